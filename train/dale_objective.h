#pragma once
// Multiplicative denoising score matching (M-DSM) of "Dale meets Langevin" (arXiv 2510.02730);
// formulas in shared/reference/drl_dale.md, part B.
//
// Data in [-1, 1] are mapped to strictly positive values x0 = (x + 1) / 2 + offset (default
// [1, 2], the authors' x/255 + 1). Geometric Brownian motion gives, exactly,
//   x_t = x0 exp((mu - sigma^2/2) t + sigma sqrt(t) z),  t = idx / N, idx ~ U{1, ..., N-1}.
// The network predicts the Stein score s(x_t, t); h = x_t s. The kernel's Hyvarinen score is
// x_t d/dx log p(x_t | x0) = -1 - z / (sigma sqrt t), so the losses are (means over elements)
//   weighting "sigma2t" (the authors'):  (sigma^2 t h + sigma^2 t + sigma sqrt(t) z)^2
//   weighting "unit":                    (h + 1 + z / (sigma sqrt t))^2
// The authors' code evaluates its loss at t = (idx + 1)/N while drawing x_t at idx/N; fluxion
// uses the same t for both. Their loss sums over pixels; fluxion averages (a constant factor).
//
// Time convention: GBM time runs from data (t = 0) to noise (t = T). The backbone, trained for
// fluxion's flows with 0 = noise and 1 = data, is conditioned on 1 - t / T, and its input is
// 2 x_t - 3, which puts the data range [1, 2] on [-1, 1] as the flow models see it.
#include <torch/torch.h>

#include <string>

#include "train/flow_objective.h"

namespace fluxion::train {

struct DaleConfig {
  double sigma = 0.8;
  double mu = 0.32;     // sigma^2 / 2
  int64_t levels = 1000;  // N
  double horizon = 1.0;   // T
  double offset = 1.0;    // data in [offset, offset + 1]
  std::string weighting = "sigma2t";  // sigma2t | unit
  double label_dropout = 0.1;

  void validate() const;
};

// The backbone's view of a positive state at GBM time t: input 2 x - (2 offset + 1), time 1 - t/T.
torch::Tensor dale_model_input(const torch::Tensor& x, double offset);
torch::Tensor dale_model_time(const torch::Tensor& t, double horizon);

class DaleObjective {
 public:
  DaleObjective(DaleConfig config, int64_t null_label);

  // x in [-1, 1] (B, C, H, W); model(input, time, y) -> Stein score. Float32 scalar.
  torch::Tensor loss(const TrainModelFn& model, const torch::Tensor& x, const torch::Tensor& y,
                     at::Generator& gen) const;
  const DaleConfig& config() const { return config_; }

 private:
  DaleConfig config_;
  int64_t null_label_;
};

// Per-channel log-normal prior of X_T fitted on data x in [-1, 1] (B, C, H, W):
// log X_T = log x0 + (mu - sigma^2/2) T + sigma sqrt(T) z, so m = E log x0 + (mu - sigma^2/2) T
// and s = sqrt(Var log x0 + sigma^2 T). Returns float64 (C) tensors.
std::pair<torch::Tensor, torch::Tensor> fit_log_normal_prior(const torch::Tensor& x,
                                                             const DaleConfig& config);

}  // namespace fluxion::train
