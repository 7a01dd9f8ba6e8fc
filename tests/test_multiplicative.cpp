// The multiplicative samplers (samplers/multiplicative.h): DLS and UMS on a 1-D mixture with its
// exact score, and DLS staying positive where UMS does not.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "core/rng.h"
#include "samplers/multiplicative.h"
#include "samplers/sampler_config.h"

using namespace fluxion;

namespace {
// Exact Hyvarinen score x d/dx log p_t(x) of GBM started from atoms `a` with weights `w`.
torch::Tensor mixture_hyvarinen(const torch::Tensor& x, double t, const std::vector<double>& a,
                                const std::vector<double>& w, double sigma, double mu) {
  auto xd = x.to(torch::kDouble);
  const double v = sigma * sigma * t;
  std::vector<torch::Tensor> log_terms, scores;
  for (size_t i = 0; i < a.size(); ++i) {
    const double m = std::log(a[i]) + (mu - 0.5 * sigma * sigma) * t;
    auto lx = torch::log(xd);
    log_terms.push_back(std::log(w[i]) - lx - (lx - m).pow(2) / (2 * v));
    scores.push_back(-1.0 - (lx - m) / v);
  }
  auto logs = torch::stack(log_terms);
  auto resp = torch::softmax(logs, 0);
  return (resp * torch::stack(scores)).sum(0).to(x.dtype());
}
}  // namespace

TEST_CASE("DLS and UMS recover the weights of a 1-D mixture from its exact score", "[unit][dale]") {
  const std::vector<double> atoms{1.2, 1.8}, weights{0.3, 0.7};
  const double sigma = 0.8, mu = 0.32;
  for (const std::string name : {"dls", "ums"}) {
    samplers::MultiplicativeConfig config;
    config.rule = name == "ums" ? samplers::MultiplicativeRule::ums : samplers::MultiplicativeRule::dls;
    config.levels = 1000;
    auto gen = core::make_generator(11);
    // Start from the exact p_T: an atom drawn by weight, times exp(sigma W_1) (mu = sigma^2/2).
    auto z = at::randn({20000, 1, 1, 1}, gen, torch::kDouble);
    auto u = at::rand({20000, 1, 1, 1}, gen, torch::kDouble);
    auto x_init = (torch::where(u < weights[0], torch::full_like(u, atoms[0]), torch::full_like(u, atoms[1])) *
                   torch::exp(sigma * z))
                      .to(torch::kFloat);
    auto score = [&](const torch::Tensor& x, const torch::Tensor& t) {
      const double tv = std::max(t[0].item<double>(), 1e-3);  // level 0: the score of p_eps
      return mixture_hyvarinen(x, tv, atoms, weights, sigma, mu);
    };
    auto result = samplers::sample_multiplicative(config, score, x_init, gen);
    CHECK(result.nfe == samplers::expected_nfe(config));
    const double low = (result.raw < 1.5).to(torch::kDouble).mean().item<double>();
    INFO(name << ": fraction below 1.5 = " << low);
    CHECK(low == Approx(0.3).margin(0.04));
    if (name == "dls") CHECK((result.raw > 0).all().item<bool>());
  }
}

TEST_CASE("DLS never leaves the positive orthant, even with huge steps", "[unit][dale]") {
  samplers::MultiplicativeConfig config;
  config.levels = 20;
  config.delta = 0.5;
  auto gen = core::make_generator(2);
  auto x = torch::rand({1000}) + 0.01;
  auto result = samplers::sample_multiplicative(
      config, [](const torch::Tensor& v, const torch::Tensor&) { return torch::full_like(v, -5.0); }, x.view({1000, 1}),
      gen);
  CHECK((result.raw > 0).all().item<bool>());
  CHECK(result.nonpositive == 0);
  config.rule = samplers::MultiplicativeRule::ums;
  auto ums = samplers::sample_multiplicative(
      config, [](const torch::Tensor& v, const torch::Tensor&) { return torch::full_like(v, -5.0); }, x.view({1000, 1}),
      gen);
  CHECK(ums.nonpositive > 0);  // the ambient update can flip signs: the reason DLS exists
  CHECK(result.lost_images == 0);
  // (1000, 1): each value is an image; every one that left (0, inf) is counted as lost
  CHECK(ums.lost_images == ((ums.raw <= 0).logical_or(torch::isfinite(ums.raw).logical_not())).sum().item<int64_t>());
  CHECK(ums.lost_images > 0);
  // a NaN (the log-space model's answer to a value <= 0) counts too
  auto nan_score = [](const torch::Tensor& v, const torch::Tensor&) {
    return torch::where(v.index({torch::indexing::Slice(), 0}).unsqueeze(1) > 0.5, torch::full_like(v, NAN),
                        torch::zeros_like(v));
  };
  auto with_nan = samplers::sample_multiplicative(config, nan_score, x.view({1000, 1}), gen);
  CHECK(with_nan.lost_images > 0);
  CHECK(with_nan.lost_images == with_nan.nonpositive);
  samplers::SamplerConfig leapfrog;
  leapfrog.name = "leapfrog";
  CHECK_THROWS_WITH(samplers::parse_sampler(leapfrog), Catch::Contains("leapfrog"));
}
