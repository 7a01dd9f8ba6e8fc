#pragma once
// The two policy updates of DRL finetuning (issue 11), both maximising the KL-regularised
// objective  E_{p_theta}[r] - beta KL(p_theta || p_base)  over the flow policy, whose optimum is
// p* = p_base exp(r / beta) / Z (drl_dale.md A.2; exact for the memoryless noise level sqrt(2),
// drl_rollout.h).
//
// grpo (Flow-GRPO, drl_dale.md A.3 and D(ii).7): over the stochastic steps k of stored rollouts,
//   L = mean_k [ PPO-clip(log pi_theta(x_{k+1} | x_k) - log pi_old, A)
//                + beta mean_dims (mean_theta - mean_base)^2 / (2 sigma_k^2 ds) ]
// with per-dimension mean log-probabilities (Flow-GRPO's), so both terms are 1/D times their
// summed forms and beta keeps its meaning.
// The KL term alone differentiates KL at the visited states; but those states depend on theta
// too, and the exact gradient of E_theta[KL_path] also credits each step's log-probability with
// the KL of the steps after it. Flow-GRPO leaves that part out, and its fixed point is then not
// p_base exp(r / beta) (the 1-D toy of tests/test_drl_update.cpp lands about 15% off). With
// `kl_to_go`, step k's advantage is computed from the KL-penalised return
//   r - beta sum_{j > k} KL_j        (KL_j summed over dims, kl_penalised_returns)
// which restores the exact gradient (1 / (n D)) grad(E[r] - beta KL_path) on-policy with a
// baseline, and with it the closed-form optimum (RLHF's "KL in the reward" plus the direct term).
//
// reward-grad: the "documented simpler variant" of a reward-gradient method, instead of Adjoint
// Matching. It differentiates the same objective end to end through a reparameterised rollout
// in which every step is stochastic (x_{k+1} = mean_theta(x_k) + std_k xi_k, the xi_k fixed
// draws), using grad_x r of the differentiable discriminator logit:
//   L = mean_batch [ -r(x_K, y) + beta sum_k sum_dims (mean_theta - mean_base)^2 / (2 sigma_k^2 ds) ]
// where the sum is the exact KL between the policy's and the base's path measures given the
// states visited (Girsanov, discretised); the base is evaluated on the policy's states, with
// gradients flowing through those states but not into the base's weights. Its gradient is the
// pathwise (reparameterisation) gradient of E[r] - beta KL, exact for the discretised chain
// (DRaFT / ReFL with the KL term Adjoint Matching regularises with). Adjoint Matching gets the
// same fixed point with memory independent of K by regressing onto a lean adjoint; this variant
// keeps every step's activations for backpropagation, which is fine at fluxion's CPU and
// mid-size GPU scales and is the documented limit of `--algo reward-grad`.
#include <torch/torch.h>

#include <functional>

#include "train/drl_rollout.h"

namespace fluxion::train {

// r(x (B, C, H, W) in the model's data space, y (B)) -> (B); differentiable in x when x requires
// grad (the reward-gradient algorithm), otherwise evaluated without a graph.
using RewardFn = std::function<torch::Tensor(const torch::Tensor& x, const torch::Tensor& y)>;

struct GrpoOptions {
  double beta = 1.0;         // KL coefficient
  double clip_range = 1e-4;  // PPO's epsilon (Flow-GRPO: tiny, because log pi is a mean over dims)
  int64_t micro_batch = 0;   // samples per forward pass (0: the whole batch)
};

// (B, n_sde): step k's return r - beta sum_{j > k} KL_j from rewards (B) and the trajectory's
// per-step KLs (B, n_sde, recorded when rolled out with the base).
torch::Tensor kl_penalised_returns(const torch::Tensor& rewards, const Trajectory& trajectory, double beta);

struct UpdateStats {
  double loss = 0.0;           // the objective's value (mean over the steps / batch)
  double kl = 0.0;             // mean over samples of the path KL per dimension: sum_k mean_dims(...)
  double clip_fraction = 0.0;  // grpo: share of (sample, step) ratios outside [1 - eps, 1 + eps]
  double reward = 0.0;         // reward-grad: the mean reward of the rollout
};

// Accumulates the gradients of the grpo loss of `trajectory` (rolled out with `options`) into the
// policy's parameters, one backward per stochastic step and micro-batch; advantages (B), or
// (B, n_sde) for one per step (kl_penalised_returns).
// `base` is evaluated without gradients.
UpdateStats grpo_backward(const VelocityFn& policy, const VelocityFn& base, const Trajectory& trajectory,
                          const torch::Tensor& advantages, const RolloutOptions& options, const GrpoOptions& grpo);

// The reward-gradient loss (a scalar with its graph) of one differentiable rollout from z with
// labels, every step stochastic with `options.noise_level`, the step noise drawn from `gen`.
// The final state goes to `reward` with its graph. `sample`, when given, receives x_K (detached).
torch::Tensor reward_gradient_loss(const VelocityFn& policy, const VelocityFn& base, const RewardFn& reward,
                                   const torch::Tensor& labels, const torch::Tensor& z, at::Generator& gen,
                                   const RolloutOptions& options, double beta, UpdateStats* stats = nullptr,
                                   torch::Tensor* sample = nullptr);

}  // namespace fluxion::train
