#pragma once
// Trajectories of the flow policy for DRL finetuning (issue 11; ../shared/reference/drl_dale.md
// A.3, D(ii).5), in fluxion's time convention: s = 0 noise, s = 1 data, on the uniform grid
// s_k = k / K (k = 0..K). Step k goes from s_k to s_{k+1} and is either
//   stochastic: the Flow-GRPO SDE step (train/drl_policy.h, flow_sde_step) with noise level a,
//               whose Gaussian log-probability of the state reached is recorded, or
//   ODE:        an Euler step x + v ds (deterministic, no log-probability).
// Which steps are stochastic: all of them (sde_window = 0), or a window of `sde_window`
// consecutive steps starting at `window_begin` (Flow-GRPO's "fast" variants: 2-3 stochastic
// steps inside the noisy first half, the rest ODE; the caller draws the start per rollout).
//
// The noise level a = sqrt(2) makes the SDE memoryless on the linear path (sigma^2 = 2 (1-s)/s,
// Adjoint Matching's schedule): the end point forgets the start, which is what makes the
// KL-regularised optimum of a reward r the tilted base p_base exp(r / beta) (drl_update.h).
#include <torch/torch.h>

#include <functional>
#include <vector>

#include "train/drl_policy.h"

namespace fluxion::train {

// The policy's velocity at (x (B, ...), s (B), y (B)) -> (B, ...), in the s = 0 noise convention.
using VelocityFn = std::function<torch::Tensor(const torch::Tensor& x, const torch::Tensor& s, const torch::Tensor& y)>;

struct RolloutOptions {
  int64_t steps = 10;        // K, the uniform grid's steps (Flow-GRPO's T_train)
  double noise_level = 0.7;  // a (Flow-GRPO's default; sqrt(2) is memoryless)
  int64_t sde_window = 0;    // 0: every step stochastic; W > 0: W consecutive stochastic steps
  int64_t window_begin = 0;  // first stochastic step when sde_window > 0

  void validate() const;  // throws fluxion::Error naming the bad option
  bool stochastic(int64_t k) const { return sde_window == 0 || (k >= window_begin && k < window_begin + sde_window); }
};

// Flow-GRPO's window placement: a start drawn uniformly in [0, max(0, K/2 - W)] from `gen`
// (0 when every step is stochastic).
int64_t draw_window_begin(const RolloutOptions& options, at::Generator& gen);

double grid_time(int64_t k, int64_t steps);  // s_k = k / K
// The stochastic step k's Gaussian: flow_sde_step on the grid, with s_0 = 0 replaced by s_1 in
// sigma (Flow-GRPO's substitute for the first step from pure noise).
SdeStep grid_sde_step(const torch::Tensor& x, const torch::Tensor& v, int64_t k, const RolloutOptions& options);

struct Trajectory {
  std::vector<torch::Tensor> states;  // x_0 (the noise) .. x_K (the sample), each (B, C, H, W)
  std::vector<int64_t> sde_steps;     // the stochastic steps k, increasing
  torch::Tensor log_probs;            // (B, n_sde): log pi(x_{k+1} | x_k) of each stochastic step
  torch::Tensor step_kls;             // (B, n_sde): KL(policy step || base step), summed over dims
                                      // (only when rolled out with a base)
  torch::Tensor labels;               // (B)
  const torch::Tensor& sample() const { return states.back(); }
};

// Rolls the policy out from z (B, C, H, W) with labels (B), without gradients; the SDE noise is
// drawn from `gen` (one (B, C, H, W) draw per stochastic step, in step order). With `base`, each
// stochastic step's Gaussian KL to the base's step is recorded too (one more forward per step).
Trajectory rollout(const VelocityFn& policy, const torch::Tensor& labels, const torch::Tensor& z, at::Generator& gen,
                   const RolloutOptions& options, const VelocityFn* base = nullptr);

// Group rollouts: `groups` class labels (cycling 0..num_classes-1, or the null label for an
// unconditional model, num_classes == 0), `group_size` samples each, labels (groups * G) in
// group-major order. The group of a sample is its label (drl_policy.h, advantages).
torch::Tensor group_labels(int64_t groups, int64_t group_size, int64_t num_classes, int64_t first_group = 0);

}  // namespace fluxion::train
