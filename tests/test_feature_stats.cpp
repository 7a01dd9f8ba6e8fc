#include <catch2/catch.hpp>

#include "core/error.h"
#include "metrics/feature_stats.h"
#include "test_helpers.h"

using namespace fluxion;

TEST_CASE("streaming statistics equal the two-pass np.cov, even with a large offset", "[unit][feature_stats]") {
  auto gen = at::detail::createCPUGenerator(3);
  const int64_t n = 1003, d = 24;
  // float32 features whose mean is 1e4 times their spread: a one-pass float32 sum would collapse
  auto features = (torch::randn({n, d}, gen, torch::kFloat) * 0.5f + torch::linspace(1e3, 5e3, d).unsqueeze(0));
  metrics::FeatureStats streaming;
  for (const auto& batch : features.split(50)) streaming.update(batch);
  const auto reference = metrics::stats_of(features);
  CHECK(streaming.count() == n);
  CHECK(streaming.dim() == d);
  const double scale = reference.sigma.abs().max().item<double>();
  CHECK(test::max_abs_diff(streaming.mean(), reference.mu) < 1e-10 * reference.mu.abs().max().item<double>());
  CHECK(test::max_abs_diff(streaming.covariance(), reference.sigma) < 1e-10 * scale);

  // merging two accumulators equals one over everything
  metrics::FeatureStats first, second;
  first.update(features.narrow(0, 0, 400));
  second.update(features.narrow(0, 400, n - 400));
  first.merge(second);
  CHECK(test::max_abs_diff(first.covariance(), reference.sigma) < 1e-10 * scale);

  // the reference itself: centred two-pass in float64 (np.cov divides by N - 1)
  const auto x = features.to(torch::kDouble);
  const auto c = x - x.mean(0);
  CHECK(test::max_abs_diff(reference.sigma, torch::mm(c.t(), c) / double(n - 1)) < 1e-10 * scale);
}

TEST_CASE("feature statistics reject misuse", "[unit][feature_stats]") {
  metrics::FeatureStats s;
  CHECK_THROWS_AS(s.mean(), Error);
  CHECK_THROWS_AS(s.update(torch::zeros({3})), Error);
  s.update(torch::zeros({1, 4}));
  CHECK_THROWS_AS(s.covariance(), Error);                  // one sample
  CHECK_THROWS_AS(s.update(torch::zeros({2, 5})), Error);  // dimension changed
}
