#pragma once
// Multiplicative denoising score matching (M-DSM) of "Dale meets Langevin" (arXiv 2510.02730);
// formulas in shared/reference/drl_dale.md, part B.
//
// Data in [-1, 1] are mapped to strictly positive values x0 = (x + 1) / 2 + offset (default
// [1, 2], the authors' x/255 + 1). Geometric Brownian motion gives, exactly,
//   x_t = x0 exp((mu - sigma^2/2) t + sigma sqrt(t) z),  t = idx / N, idx ~ U{1, ..., N-1}.
// The model gives the Stein score s(x_t, t) and h = x_t s is the Hyvarinen score. The kernel's
// Hyvarinen score is x_t d/dx log p(x_t | x0) = -1 - z / (sigma sqrt t), so the losses are (means
// over elements), with the residual r = h + 1 + z / (sigma sqrt t):
//   weighting "noise":              (sigma sqrt(t) r)^2 = (z - eps)^2 for the noise output below
//   weighting "sigma2t" (the authors'):  (sigma^2 t r)^2 = (sigma^2 t h + sigma^2 t + sigma sqrt(t) z)^2
//   weighting "unit":               r^2
// The authors' code evaluates its loss at t = (idx + 1)/N while drawing x_t at idx/N; fluxion
// uses the same t for both. Their loss sums over pixels; fluxion averages (a constant factor).
//
// What the backbone sees and gives (DaleConfig::input, ::output):
//   input "log" (default): log x_t mapped affinely so that the data range [offset, offset + 1]
//     lands on [-1, 1]; GBM is Brownian motion in log space, so the backbone sees data plus
//     Gaussian noise as in flow matching. "linear" (the authors' 2x - 1, shifted): 2 x_t - (2 offset + 1),
//     which at t = T spans roughly [-1, 40] for sigma = 0.8.
//   output "noise" (default): the backbone predicts eps, the log-space noise, and
//     h = -1 - eps / (sigma sqrt t): the kernel's form, the usual epsilon parameterization of a
//     Gaussian (log-space) diffusion. A zero-initialised last layer starts at h = -1 and the
//     target eps has unit scale at every t. "score" (the authors'): the backbone's output is s, so
//     it must reach |x s| ~ 1 / (sigma sqrt t), 40 at the first level.
//   The noise output is singular at t = 0; there it is evaluated at the first trained level T / N.
// With the defaults M-DSM is denoising score matching in log space; 6,000 steps on Fashion-MNIST
// give garments where the authors' parameterization gives noisy silhouettes (docs/benchmarks.md).
//
// Time convention: GBM time runs from data (t = 0) to noise (t = T). The backbone, trained for
// fluxion's flows with 0 = noise and 1 = data, is conditioned on 1 - t / T.
//
// State: the log-normal priors sampling starts from (dale_prior.h), fitted on the training data
// when a run starts. A Dale model is sampled by the multiplicative samplers (dale_sampling.h).
#include <torch/torch.h>

#include <string>

#include "objectives/objective.h"

namespace fluxion::objectives {

struct DaleConfig {
  double sigma = 0.8;
  double mu = 0.32;                 // sigma^2 / 2
  int64_t levels = 1000;            // N
  double horizon = 1.0;             // T
  double offset = 1.0;              // data in [offset, offset + 1]
  std::string weighting = "noise";  // noise | sigma2t (the authors') | unit
  std::string input = "log";        // log | linear (the authors')
  std::string output = "noise";     // noise | score (the authors')
  double label_dropout = 0.1;

  void validate() const;
};

// The backbone's view of a positive state x at GBM time t (B): its input (see `input` above) and
// its time 1 - t/T.
torch::Tensor dale_model_input(const torch::Tensor& x, const DaleConfig& config);
torch::Tensor dale_model_time(const torch::Tensor& t, const DaleConfig& config);

// The Hyvarinen score h = x s from the backbone's raw output at x (B, C, H, W), GBM time t (B).
torch::Tensor dale_hyvarinen_score(const torch::Tensor& raw, const torch::Tensor& x, const torch::Tensor& t,
                                   const DaleConfig& config);

class DaleObjective : public Objective {
 public:
  DaleObjective(DaleConfig config, int64_t null_label);

  std::string name() const override { return "dale"; }
  std::string describe() const override;

  // The halves of loss() (objective.h): draws {t, z, labels}: the GBM time t = idx T / N with
  // idx ~ U{1, ..., N-1} (B), the Brownian draw z (B, C, H, W), the labels after dropout; then the
  // loss on them, x in [-1, 1] (B, C, H, W), model(input, time, y) -> raw output (see `output`),
  // a float32 scalar.
  LossDraws draws(const torch::Tensor& x, const torch::Tensor& y, at::Generator& gen, int64_t global_batch,
                  int64_t begin) const override;
  torch::Tensor loss_on_draws(const ModelFn& model, const torch::Tensor& x, const LossDraws& draws) const override;

  // The priors of dale_prior.h: fitted on up to 20,000 training images, one class per label below
  // null_label.
  void fit_state(const core::Dataset& data, int data_threads) override;
  void load_state(const core::TensorMap& state) override { priors_ = state; }
  core::TensorMap state() const override { return priors_; }

  std::unique_ptr<ObjectiveSampler> sampler(const SamplingRequest& request) const override;
  // DLS every grid.level_stride-th level, whatever grid.name says (it names a flow solver).
  samplers::SamplerConfig preview_sampler(samplers::SamplerConfig grid) const override;

  const DaleConfig& config() const { return config_; }

 private:
  DaleConfig config_;
  int64_t null_label_;
  core::TensorMap priors_;
};

}  // namespace fluxion::objectives
