#pragma once
// Streaming mean and covariance of feature batches, in float64 on the features' device. Each
// batch is centred on its own mean and merged with Chan et al.'s pairwise update, so large
// offsets (DINO CLS dimensions) cost no precision: the result equals a two-pass np.cov (N - 1).
#include <torch/torch.h>

#include "metrics/frechet.h"

namespace fluxion::metrics {

class FeatureStats {
 public:
  FeatureStats() = default;

  // features (B, D), any floating dtype and device; B = 0 is a no-op.
  void update(const torch::Tensor& features);
  // Combines another accumulator (e.g. from another device or thread) into this one.
  void merge(const FeatureStats& other);

  int64_t count() const { return count_; }
  int64_t dim() const { return mean_.defined() ? mean_.size(0) : 0; }
  torch::Tensor mean() const;        // float64 CPU (D)
  torch::Tensor covariance() const;  // float64 CPU (D, D), divided by N - 1
  GaussianStats stats() const;

 private:
  void merge_moments(int64_t n, const torch::Tensor& mean, const torch::Tensor& m2);
  int64_t count_ = 0;
  torch::Tensor mean_;  // float64 (D)
  torch::Tensor m2_;    // float64 (D, D): sum of outer products of centred features
};

// Two-pass statistics of a whole (N, D) feature matrix (the reference np.mean / np.cov).
GaussianStats stats_of(const torch::Tensor& features);

}  // namespace fluxion::metrics
