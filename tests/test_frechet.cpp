#include <catch2/catch.hpp>

#include <cmath>

#include "core/error.h"
#include "core/safetensors.h"
#include "metrics/feature_stats.h"
#include "metrics/frechet.h"
#include "reference_features.h"
#include "test_helpers.h"

using namespace fluxion;
using Catch::Matchers::WithinRel;

namespace {
torch::Tensor dmat(std::initializer_list<double> values, int64_t rows, int64_t cols) {
  return torch::tensor(std::vector<double>(values), torch::kDouble).reshape({rows, cols});
}
}  // namespace

TEST_CASE("frechet distance matches pytorch-fid's golden values", "[golden][frechet]") {
  const auto path = test::golden_path("frechet_distance.safetensors");
  if (path.empty()) {
    test::skip_test("../shared/golden/frechet_distance.safetensors absent");
  }
  const auto g = core::load_safetensors(path);
  for (const std::string c : {"d64_n500", "d256_n1000", "d64_n40_singular"}) {
    INFO(c);
    const double expected = g.at(c + ".fd").item<double>();
    const auto r = metrics::frechet_distance_detailed(g.at(c + ".mu1"), g.at(c + ".sigma1"), g.at(c + ".mu2"),
                                                      g.at(c + ".sigma2"));
    INFO("fd " << r.distance << " expected " << expected << " regularized " << r.regularized << " max imag "
               << r.max_imaginary);
    CHECK_THAT(r.distance, WithinRel(expected, 1e-6));

    // the statistics of the stored features, streamed in uneven batches, give the same value
    metrics::FeatureStats s1, s2;
    for (const auto& chunk : g.at(c + ".features1").split(37)) s1.update(chunk);
    for (const auto& chunk : g.at(c + ".features2").split(64)) s2.update(chunk);
    CHECK(test::max_abs_diff(s1.mean(), g.at(c + ".mu1")) < 1e-10);
    CHECK(test::max_abs_diff(s1.covariance(), g.at(c + ".sigma1")) < 1e-10);
    CHECK_THAT(metrics::frechet_distance(s1.stats(), s2.stats()), WithinRel(expected, 1e-6));
  }
  const auto mu = torch::zeros({2}, torch::kDouble);
  CHECK_THAT(metrics::frechet_distance(mu, g.at("closed2x2.sigma1"), mu, g.at("closed2x2.sigma2")),
             WithinRel(g.at("closed2x2.fd").item<double>(), 1e-12));
}

TEST_CASE("frechet distance closed forms", "[unit][frechet]") {
  SECTION("2x2 non-commuting: 8 - 2 sqrt(14), and with a mean shift") {
    const auto s1 = dmat({2, 1, 1, 2}, 2, 2), s2 = dmat({1, 0, 0, 3}, 2, 2);
    const auto zero = torch::zeros({2}, torch::kDouble);
    CHECK_THAT(metrics::frechet_distance(zero, s1, zero, s2), WithinRel(8.0 - 2.0 * std::sqrt(14.0), 1e-12));
    CHECK_THAT(metrics::frechet_distance(zero, s1, torch::tensor({1.0, 2.0}, torch::kDouble), s2),
               WithinRel(5.516685226452117, 1e-12));
    CHECK_THAT(metrics::trace_sqrt_product_symmetric(s1, s2), WithinRel(std::sqrt(14.0), 1e-12));
  }
  SECTION("identity covariances, means differing by one in every dimension: d") {
    const int64_t d = 256;
    const auto eye = torch::eye(d, torch::kDouble);
    CHECK_THAT(metrics::frechet_distance(torch::zeros({d}, torch::kDouble), eye, torch::ones({d}, torch::kDouble), eye),
               WithinRel(static_cast<double>(d), 1e-12));
  }
  SECTION("univariate: (m1 - m2)^2 + (s1 - s2)^2") {
    const auto r = metrics::frechet_distance(torch::tensor({0.5}, torch::kDouble), dmat({4.0}, 1, 1),
                                             torch::tensor({-1.0}, torch::kDouble), dmat({0.25}, 1, 1));
    CHECK_THAT(r, WithinRel(1.5 * 1.5 + 1.5 * 1.5, 1e-12));
  }
  SECTION("commuting pair Q diag(a) Q^T, Q diag(b) Q^T") {
    auto gen = at::detail::createCPUGenerator(7);
    const int64_t d = 32;
    const auto q = std::get<0>(torch::linalg_qr(torch::randn({d, d}, gen, torch::kDouble)));
    const auto a = torch::rand({d}, gen, torch::kDouble) * 3 + 0.1;
    const auto b = torch::rand({d}, gen, torch::kDouble) * 2 + 0.05;
    const auto s1 = torch::mm(q * a.unsqueeze(0), q.t()), s2 = torch::mm(q * b.unsqueeze(0), q.t());
    const auto m1 = torch::randn({d}, gen, torch::kDouble), m2 = torch::randn({d}, gen, torch::kDouble);
    const double expected = (m1 - m2).pow(2).sum().item<double>() + (a.sqrt() - b.sqrt()).pow(2).sum().item<double>();
    CHECK_THAT(metrics::frechet_distance(m1, s1, m2, s2), WithinRel(expected, 1e-9));
    CHECK_THAT(metrics::trace_sqrt_product_symmetric(s1, s2), WithinRel((a * b).sqrt().sum().item<double>(), 1e-9));
  }
  SECTION("reference features of metrics.md: 0.21289910450441774") {
    auto [X, Y] = test::reference_features();
    CHECK_THAT(metrics::frechet_distance(metrics::stats_of(X), metrics::stats_of(Y)),
               WithinRel(0.21289910450441774, 1e-9));
  }
}

TEST_CASE("frechet distance rejects bad inputs", "[unit][frechet]") {
  const auto zero = torch::zeros({2}, torch::kDouble);
  // a covariance with a negative eigenvalue gives sqrt(-1): far beyond the 1e-3 imaginary limit
  CHECK_THROWS_AS(metrics::frechet_distance(zero, dmat({-1, 0, 0, 1}, 2, 2), zero, torch::eye(2, torch::kDouble)),
                  Error);
  CHECK_THROWS_AS(metrics::frechet_distance(zero, torch::eye(2, torch::kDouble), torch::zeros({3}, torch::kDouble),
                                            torch::eye(3, torch::kDouble)),
                  Error);
}
