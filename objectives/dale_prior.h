#pragma once
// The distribution Dale sampling starts from: a fit of X_T, the GBM state at the horizon, on the
// training data (formulas in shared/reference/drl_dale.md, B.2). In log space
// log X_T = log x0 + (mu - sigma^2/2) T + sigma sqrt(T) z, so a fit of log x0's mean and variance
// plus sigma^2 T gives a log-normal.
//   "channel" (the authors'): one log-normal per channel.
//   "class": one log-normal per class and pixel, the authors' optional class-average start made
//     a distribution. With sigma = 0.8 the coarse shape of an image survives to T (an average
//     over a garment's pixels keeps its brightness above the noise), so a prior without it
//     starts the reverse process from a state it never saw: samples keep their edges but lose
//     their bodies (docs/benchmarks.md).
// Checkpoints store both as objective.prior_mean, objective.prior_std (C, float64) and
// objective.prior_class_mean, objective.prior_class_std (K + 1, C, H, W): row k for class k,
// row K (the null label) for all images.
#include <torch/torch.h>

#include <string>

#include "core/dataset.h"
#include "core/safetensors.h"
#include "objectives/dale_objective.h"

namespace fluxion::objectives {

// Per-channel mean and std of log X_T for data x in [-1, 1] (B, C, H, W); float64 (C) tensors.
std::pair<torch::Tensor, torch::Tensor> fit_log_normal_prior(const torch::Tensor& x, const DaleConfig& config);

// Both priors for data x in [-1, 1] (B, C, H, W) with labels (B) in [0, num_classes) or -1.
// Classes without images get the all-images row.
core::TensorMap fit_dale_priors(const torch::Tensor& x, const torch::Tensor& labels, int64_t num_classes,
                                const DaleConfig& config);
// The same, fitted on up to 20,000 images spread evenly over a dataset (decoded with
// `data_threads` threads, 0: all cores).
core::TensorMap fit_dale_priors(const core::Dataset& data, int data_threads, int64_t num_classes,
                                const DaleConfig& config);

// "auto" is "class" when the checkpoint's objective state has it (older ones do not), else
// "channel". Throws for unknown kinds or a missing class prior.
std::string resolve_dale_prior(const std::string& kind, const core::TensorMap& objective_state);

// exp(mean + std z) for z (B, C, H, W) standard normal; the class prior takes row labels[b]
// (labels outside [0, K] read row K).
torch::Tensor sample_dale_prior(const core::TensorMap& objective_state, const std::string& kind,
                                const torch::Tensor& labels, const torch::Tensor& z);

}  // namespace fluxion::objectives
