#include "metrics/feature_stats.h"

#include "core/error.h"

namespace fluxion::metrics {

void FeatureStats::update(const torch::Tensor& features) {
  FLUXION_CHECK(features.dim() == 2, "feature statistics: features must be (B, D), got shape ", features.sizes());
  if (features.size(0) == 0) return;
  torch::NoGradGuard no_grad;
  const auto x = features.to(torch::kDouble);
  const auto batch_mean = x.mean(0);
  const auto centred = x - batch_mean;
  // (B, D)^T (B, D) -> (D, D)
  merge_moments(x.size(0), batch_mean, torch::mm(centred.t(), centred));
}

void FeatureStats::merge_moments(int64_t n, const torch::Tensor& mean, const torch::Tensor& m2) {
  if (count_ == 0) {
    count_ = n;
    mean_ = mean.clone();
    m2_ = m2.clone();
    return;
  }
  FLUXION_CHECK(mean.size(0) == mean_.size(0), "feature statistics: dimension changed from ", mean_.size(0), " to ",
                mean.size(0));
  const auto other_mean = mean.to(mean_.device());
  const double na = static_cast<double>(count_), nb = static_cast<double>(n);
  const double total = na + nb;
  const auto delta = other_mean - mean_;
  // Chan et al.: M2 = M2a + M2b + delta delta^T * na nb / n
  m2_ = m2_ + m2.to(m2_.device()) + torch::outer(delta, delta) * (na * nb / total);
  mean_ = mean_ + delta * (nb / total);
  count_ += n;
}

void FeatureStats::merge(const FeatureStats& other) {
  if (other.count_ == 0) return;
  merge_moments(other.count_, other.mean_, other.m2_);
}

torch::Tensor FeatureStats::mean() const {
  FLUXION_CHECK(count_ > 0, "feature statistics: no features were accumulated");
  return mean_.to(torch::kCPU);
}

torch::Tensor FeatureStats::covariance() const {
  FLUXION_CHECK(count_ > 1, "feature statistics: a covariance needs at least 2 samples, have ", count_);
  return (m2_ / static_cast<double>(count_ - 1)).to(torch::kCPU);
}

GaussianStats FeatureStats::stats() const { return {mean(), covariance(), count_}; }

GaussianStats stats_of(const torch::Tensor& features) {
  FLUXION_CHECK(features.dim() == 2 && features.size(0) > 1,
                "feature statistics: need (N >= 2, D) features, got shape ", features.sizes());
  const auto x = features.to(torch::kCPU, torch::kDouble);
  const auto mu = x.mean(0);
  const auto centred = x - mu;
  return {mu, torch::mm(centred.t(), centred) / static_cast<double>(x.size(0) - 1), x.size(0)};
}

}  // namespace fluxion::metrics
