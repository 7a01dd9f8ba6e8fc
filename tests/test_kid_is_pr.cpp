#include <catch2/catch.hpp>

#include <cmath>

#include "core/error.h"
#include "metrics/numpy_random.h"
#include "metrics/sample_metrics.h"
#include "reference_features.h"

using namespace fluxion;
using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;

TEST_CASE("numpy RandomState permutations are reproduced", "[unit][kid]") {
  // np.random.RandomState(0).permutation(10)
  metrics::NumpyRandomState rng(0);
  CHECK(rng.permutation(10) == std::vector<int64_t>{2, 8, 4, 9, 1, 6, 7, 3, 0, 5});
  // MT19937's reference: the first output of init_genrand(5489) is 3499211612
  metrics::NumpyRandomState mt(5489);
  CHECK(mt.next_uint32() == 3499211612u);
}

TEST_CASE("inception score on constructed logits", "[unit][inception_score]") {
  SECTION("uniform predictions give 1") {
    const auto r = metrics::inception_score(torch::zeros({40, 10}), {4, -1});
    CHECK_THAT(r.mean, WithinAbs(1.0, 1e-12));
    CHECK_THAT(r.std, WithinAbs(0.0, 1e-12));
  }
  SECTION("confident, evenly spread predictions give the number of classes") {
    const auto logits = torch::eye(10, torch::kDouble).repeat({3, 1}) * 200.0;
    CHECK_THAT(metrics::inception_score(logits, {1, -1}).mean, WithinRel(10.0, 1e-9));
  }
  SECTION("metrics.md vector: 3 sin(0.1 (n+1)(c+1)), two contiguous splits") {
    auto logits = torch::empty({20, 10}, torch::kDouble);
    for (int n = 0; n < 20; ++n)
      for (int c = 0; c < 10; ++c) logits[n][c] = 3.0 * std::sin(0.1 * (n + 1) * (c + 1));
    const auto r = metrics::inception_score(logits, {2, -1});
    CHECK_THAT(r.mean, WithinRel(1.6457891872597774, 1e-12));
    CHECK_THAT(r.std, WithinRel(0.07876452640474585, 1e-10));
  }
}

TEST_CASE("KID on constructed features", "[unit][kid]") {
  SECTION("metrics.md vector: one subset of the first 48 rows") {
    auto [X, Y] = test::reference_features();
    CHECK_THAT(metrics::kid_mmd2(X.narrow(0, 0, 48), Y), WithinRel(-0.03555299169207782, 1e-10));
  }
  SECTION("same distribution: ~0; mean-shifted Gaussians: close to the population MMD^2") {
    auto gen = at::detail::createCPUGenerator(11);
    const int64_t d = 16;
    const auto a = torch::randn({1500, d}, gen, torch::kDouble);
    // (subsets of one set would share points, whose self-similarity biases KID negative)
    const auto a2 = torch::randn({1500, d}, gen, torch::kDouble);
    const auto same = metrics::kernel_inception_distance(a, a2, {20, 500, 1});
    INFO("KID of two draws of one distribution " << same.mean << " +- " << same.std);
    // unbiased: zero up to the spread of the 20 subset estimates
    CHECK(std::abs(same.mean) < 4.0 * same.std / std::sqrt(20.0));
    const auto b = torch::randn({1500, d}, gen, torch::kDouble) + 0.5;
    const auto c = torch::randn({1500, d}, gen, torch::kDouble);
    const auto shifted = metrics::kernel_inception_distance(c, b, {20, 500, 2});
    // Population MMD^2 of N(0, I) vs N(delta, I) under k = 1 + 3t + 3t^2 + t^3, t = u.v / d:
    // for u ~ N(a, I), v ~ N(b, I), S = u.v, A = a.b:  E S = A,
    // E S^2 = A^2 + |a|^2 + |b|^2 + d,  E S^3 = A^3 + 3A(|a|^2 + |b|^2 + d) + 6A.
    const double s = 0.25;  // |delta|^2 / d
    const double dd = static_cast<double>(d);
    auto e_k = [&](double uv, double uu, double vv) {
      const double t1 = uv / dd;
      const double t2 = (uv * uv + uu + vv + dd) / (dd * dd);
      const double t3 = (uv * uv * uv + 3.0 * uv * (uu + vv + dd) + 6.0 * uv) / (dd * dd * dd);
      return 1.0 + 3.0 * t1 + 3.0 * t2 + t3;
    };
    const double m2 = s * dd;  // |delta|^2
    const double expected = e_k(0, 0, 0) + e_k(m2, m2, m2) - 2.0 * e_k(0, 0, m2);
    CHECK_THAT(shifted.mean, WithinRel(expected, 0.1));
    CHECK(shifted.mean > 10 * shifted.std / std::sqrt(20.0));
  }
}

TEST_CASE("precision and recall on constructed features", "[unit][precision_recall]") {
  metrics::PrecisionRecallOptions opts;
  opts.dtype = torch::kDouble;
  opts.block = 7;  // exercises the blocking
  SECTION("metrics.md vector: X real, Y fake, k = 3 -> 1/3 and 3/4") {
    auto [X, Y] = test::reference_features();
    const auto pr = metrics::precision_recall(X, Y, opts);
    CHECK_THAT(pr.precision, WithinAbs(1.0 / 3.0, 1e-12));
    CHECK_THAT(pr.recall, WithinAbs(0.75, 1e-12));
  }
  SECTION("identical sets: 1 and 1; far apart sets: 0 and 0") {
    auto gen = at::detail::createCPUGenerator(5);
    const auto a = torch::randn({50, 6}, gen, torch::kDouble);
    auto same = metrics::precision_recall(a, a, opts);
    CHECK(same.precision == 1.0);
    CHECK(same.recall == 1.0);
    auto far = metrics::precision_recall(a, a + 100.0, opts);
    CHECK(far.precision == 0.0);
    CHECK(far.recall == 0.0);
  }
  SECTION("radii are squared distances to the k-th neighbour, self excluded") {
    const auto line = torch::arange(10, torch::kDouble).unsqueeze(1);  // points 0..9 on a line
    const auto r = metrics::knn_radii(line, 3, 4, torch::kDouble);
    CHECK(r[0].item<double>() == 9.0);  // neighbours 1, 2, 3
    CHECK(r[5].item<double>() == 4.0);  // 4, 6, then 3 or 7 at distance 2
  }
}
