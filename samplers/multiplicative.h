#pragma once
// Multiplicative samplers of Dale-Langevin score matching ("Dale meets Langevin", arXiv 2510.02730;
// formulas in shared/reference/drl_dale.md, part B, checked against the authors' code).
//
// The forward process is geometric Brownian motion dX = mu X dt + sigma X dW on strictly positive
// data (images mapped to [1, 2]); its time runs from data (t = 0) to noise (t = T), the reverse of
// fluxion's flow convention, so these samplers speak of "levels" k = N-1 ... 0 with t_k = k T / N.
// The model gives the Hyvarinen score h = x * s(x, t_k), s the Stein score. One update, with
// step delta and noise z ~ N(0, I) scaled by the annealed factor a:
//   DLS (sign-preserving, Dale-Langevin): x <- x exp(delta sigma^2 h - delta (mu - 3 sigma^2 / 2)
//                                                     + sqrt(delta) sigma a z)
//   UMS (sign-agnostic, ambient):         x <- x (1 + 2 delta sigma^2 - delta mu + delta sigma^2 h
//                                                 + sqrt(delta) sigma a z)
// Each level repeats the update `repeats` times; a = anneal^(updates so far). The last update
// adds no noise unless `last_noise` (score_sde's noise removal: the noise of the final step is of
// the size the step was meant to remove, 8% of x for stride 10 of N = 1000). `final_steps`
// noise-free DLS updates at t = 0 may follow (the authors' "Tweedie" finish). The result is
// clamped to [1, 2].
#include <torch/torch.h>

#include <string>

#include "samplers/model_fn.h"

namespace fluxion::samplers {

// DLS (sign-preserving, the exponentiated update) or UMS (sign-agnostic, the ambient one).
enum class MultiplicativeRule { dls, ums };
std::string to_string(MultiplicativeRule rule);  // "dls" | "ums"

struct MultiplicativeConfig {
  MultiplicativeRule rule = MultiplicativeRule::dls;
  double sigma = 0.8;
  double mu = 0.32;          // sigma^2 / 2: zero drift in log space
  int64_t levels = 1000;     // N
  double horizon = 1.0;      // T
  double delta = 0.0;        // step; 0 means stride T / N (T / N is the faithful choice)
  int64_t repeats = 1;       // L updates per level
  double anneal = 1.0;       // noise factor multiplied by this after every update
  int64_t final_steps = 0;   // noise-free DLS updates at t = 0
  int64_t level_stride = 1;  // visit every stride-th level (k = N-1, N-1-stride, ...)
  bool last_noise = false;   // true: the last update is noisy too (the authors' loop)
};

struct MultiplicativeResult {
  torch::Tensor x;    // clamped to [1, 2]
  torch::Tensor raw;  // before the clamp (for diagnostics and tests)
  int64_t nfe = 0;
  int64_t nonpositive = 0;  // UMS values that went <= 0 or stopped being finite (DLS never does)
  int64_t lost_images = 0;  // images holding such values: their output is filler, not a sample
};

// Throws a one-line fluxion::Error naming the bad setting.
void validate(const MultiplicativeConfig& config);
int64_t expected_nfe(const MultiplicativeConfig& config);
double step_size(const MultiplicativeConfig& config);  // delta, or its default
std::string describe(const MultiplicativeConfig& config);

// The log-normal prior exp(m + s z) with per-channel m, s of shape (C).
torch::Tensor sample_log_normal_prior(const torch::Tensor& mean, const torch::Tensor& std, at::IntArrayRef shape,
                                      at::Generator& gen);

// `score` (x (B, ...) > 0, t (B) in [0, T]) -> the Hyvarinen score h = x * s shaped like x.
MultiplicativeResult sample_multiplicative(const MultiplicativeConfig& config, const Field& score,
                                           const torch::Tensor& x_init, at::Generator& gen);

}  // namespace fluxion::samplers
