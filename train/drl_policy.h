#pragma once
// The policy-gradient pieces of DRL finetuning in the Flow-GRPO form (issue 11;
// ../shared/reference/drl_dale.md A.3), in fluxion's time convention: s = 0 noise, s = 1 data,
// x_s = s x + (1 - s) eps, velocity v = dx/ds. Flow-GRPO writes t = 1 - s and v_ref = -v.
//
// SDE step from s to s_next > s (ds = s_next - s), with noise level a:
//   sigma = a sqrt((1 - s) / s)            (at s = 0: s replaced by `s_floor`, the first positive grid time)
//   mean  = x (1 - sigma^2 ds / (2 (1 - s))) + v (1 + sigma^2 s / (2 (1 - s))) ds
//   x'    = mean + sigma sqrt(ds) xi,  xi ~ N(0, I)
// an Euler-Maruyama step of the SDE that keeps the ODE's marginals. Its log-probability is the
// Gaussian log-density averaged (not summed) over the non-batch dimensions, as Flow-GRPO does:
//   log pi = mean( -(x' - mean)^2 / (2 sigma^2 ds) ) - log(sigma sqrt(ds)) - log(2 pi) / 2.
#include <torch/torch.h>

#include <string>

namespace fluxion::train {

struct SdeStep {
  torch::Tensor mean;  // (B, ...)
  double std = 0.0;    // sigma sqrt(ds)
  double sigma = 0.0;
};

// The step's Gaussian from the state x and the velocity v at s (both (B, ...)).
SdeStep flow_sde_step(const torch::Tensor& x, const torch::Tensor& v, double s, double s_next, double noise_level,
                      double s_floor);

// Per-sample log-probability (B) of `next` under the step's Gaussian, averaged over dimensions.
torch::Tensor sde_log_prob(const torch::Tensor& next, const SdeStep& step);

enum class AdvantageNorm { none, center, group, global, gdpo };
AdvantageNorm parse_advantage_norm(const std::string& name);  // none | center | group | global | gdpo

// Advantages (B) from rewards: rewards (B) or, for several rewards, (B, R) (summed after their
// normalisation); groups (B) int64 (the class label: samples of one label form a group).
//   none:   r                         (R > 1: the sum)
//   center: r - mean_group r          (a baseline without rescaling: beta keeps its meaning on
//                                      raw logits, with less variance than none)
//   group:  (r - mean_group r) / (std_group r + 1e-4)
//   global: (r - mean_group r) / (std_batch r + 1e-4)   (Flow-GRPO's global_std)
//   gdpo:   each reward column group-normalised on its own, then summed and normalised over the
//           batch, so that one reward's scale cannot drown the others
// then clipped to [-clip, clip] (Flow-GRPO: 5).
torch::Tensor advantages(const torch::Tensor& rewards, const torch::Tensor& groups, AdvantageNorm norm,
                         double clip = 5.0);

// PPO's clipped surrogate, mean over the batch: max(-A rho, -A clip(rho, 1 - eps, 1 + eps)),
// rho = exp(log_prob - old_log_prob).
torch::Tensor ppo_clip_loss(const torch::Tensor& log_prob, const torch::Tensor& old_log_prob,
                            const torch::Tensor& advantage, double clip_range);

// The KL term between the policy's and the frozen base's step Gaussians (same sigma): per sample
// mean over dimensions of (mean - base_mean)^2 / (2 sigma^2 ds), averaged over the batch. Zero
// when the policy is the base.
torch::Tensor step_kl(const SdeStep& policy, const SdeStep& base);

}  // namespace fluxion::train
