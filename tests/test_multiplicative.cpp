// Dale-Langevin: the GBM kernel score, M-DSM on a one-point dataset, the log-normal prior fit,
// and both multiplicative samplers on a 1-D mixture with its exact score.
#include <catch2/catch.hpp>

#include <cmath>

#include "core/rng.h"
#include "models/zoo.h"
#include "samplers/multiplicative.h"
#include "train/dale_objective.h"
#include "train/dale_prior.h"
#include "test_helpers.h"

using namespace fluxion;

namespace {
// log p(x_t | x0) of geometric Brownian motion (a log-normal density), in float64.
double log_kernel(double x, double x0, double t, double sigma, double mu) {
  const double m = std::log(x0) + (mu - 0.5 * sigma * sigma) * t;
  const double v = sigma * sigma * t;
  return -std::log(x) - 0.5 * std::log(2 * M_PI * v) - (std::log(x) - m) * (std::log(x) - m) / (2 * v);
}

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

TEST_CASE("the GBM kernel's Hyvarinen score is -1 - z / (sigma sqrt t)", "[unit][dale]") {
  const double sigma = 0.8, mu = 0.32, x0 = 1.37;
  for (double t : {0.01, 0.3, 1.0}) {
    for (double z : {-1.5, 0.0, 0.7}) {
      const double x = x0 * std::exp((mu - 0.5 * sigma * sigma) * t + sigma * std::sqrt(t) * z);
      const double h = 1e-6 * x;
      const double fd = x * (log_kernel(x + h, x0, t, sigma, mu) - log_kernel(x - h, x0, t, sigma, mu)) / (2 * h);
      CHECK(fd == Approx(-1.0 - z / (sigma * std::sqrt(t))).epsilon(1e-6));
    }
  }
}

TEST_CASE("M-DSM vanishes for the exact score of a one-point dataset", "[unit][dale]") {
  for (const std::string input : {"log", "linear"})
    for (const std::string output : {"noise", "score"})
      for (const std::string weighting : {"noise", "sigma2t", "unit"}) {
        train::DaleConfig config;
        config.input = input;
        config.output = output;
        config.weighting = weighting;
        config.label_dropout = 0.0;
        train::DaleObjective objective(config, 10);
        auto x = (torch::rand({1, 1, 4, 4}) * 2 - 1).expand({64, 1, 4, 4}).contiguous();
        auto x0 = (x + 1) * 0.5 + config.offset;
        const double low = std::log(config.offset), high = std::log(config.offset + 1);
        auto oracle = [&](const torch::Tensor& in, const torch::Tensor& time, const torch::Tensor&) {
          auto xt = input == "linear" ? (in + (2 * config.offset + 1)) / 2
                                      : torch::exp((in * (high - low) + (low + high)) / 2);
          auto t = ((1 - time) * config.horizon).view({-1, 1, 1, 1});
          const double s2 = config.sigma * config.sigma;
          auto h = -1.0 - (torch::log(xt / x0) - (config.mu - 0.5 * s2) * t) / (s2 * t);
          return output == "score" ? h / xt : -(h + 1.0) * config.sigma * t.sqrt();
        };
        auto gen = core::make_generator(1);
        const double exact = objective.loss(oracle, x, torch::zeros({64}, torch::kLong), gen).item<double>();
        const double wrong = objective.loss(
            [](const torch::Tensor& in, const torch::Tensor&, const torch::Tensor&) { return in * 0; }, x,
            torch::zeros({64}, torch::kLong), gen).item<double>();
        INFO(input << " input, " << output << " output, " << weighting << " weighting: exact " << exact
                   << " wrong " << wrong);
        CHECK(wrong > 1e-3);
        CHECK(exact < 1e-6 * wrong);
      }
}

TEST_CASE("the Dale model input puts the data range on [-1, 1] and the noise output stays finite at t = 0",
          "[unit][dale]") {
  train::DaleConfig config;
  config.offset = 1.0;
  for (const std::string input : {"log", "linear"}) {
    config.input = input;
    auto ends = train::dale_model_input(torch::tensor({1.0, 2.0}), config);
    CHECK(ends[0].item<double>() == Approx(-1.0));
    CHECK(ends[1].item<double>() == Approx(1.0));
  }
  config.input = "log";
  CHECK(train::dale_model_input(torch::tensor({std::sqrt(2.0)}), config).item<double>() == Approx(0.0).margin(1e-6));
  // eps = 1 at t = 0 is read at the first level T / N: h = -1 - 1 / (sigma sqrt(1 / 1000))
  auto x = torch::full({2, 1, 2, 2}, 1.5);
  auto h = train::dale_hyvarinen_score(torch::ones_like(x), x, torch::zeros({2}), config);
  CHECK(h.min().item<double>() == Approx(-1.0 - 1.0 / (0.8 * std::sqrt(1e-3))));
  config.output = "score";
  CHECK(train::dale_hyvarinen_score(torch::ones_like(x), x, torch::zeros({2}), config).min().item<double>() ==
        Approx(1.5));
}

TEST_CASE("the log-normal prior fit has the closed form of GBM at T", "[unit][dale]") {
  train::DaleConfig config;
  auto x = torch::zeros({5, 2, 3, 3});  // every pixel 0 -> x0 = 1.5
  x.select(1, 1).fill_(1.0);            // channel 1 -> x0 = 2
  auto [mean, std] = train::fit_log_normal_prior(x, config);
  CHECK(mean[0].item<double>() == Approx(std::log(1.5)));
  CHECK(mean[1].item<double>() == Approx(std::log(2.0)));
  CHECK(std[0].item<double>() == Approx(0.8));
}

TEST_CASE("M-DSM gives finite gradients to both backbone families with every attention kind", "[unit][dale]") {
  for (const std::string attention : {"softmax", "gated", "linear"}) {
    models::ModelOverrides overrides;
    overrides.attention = attention;
    auto sit = models::zoo_config("SiT-T/4", overrides);
    models::JiTConfig jit;  // JiT's layout at test size: 2x2 patches of 16 on 32x32x1
    jit.input_size = 32;
    jit.patch_size = 16;
    jit.in_channels = 1;
    jit.hidden_size = 64;
    jit.depth = 2;
    jit.num_heads = 4;
    jit.num_classes = 10;
    jit.bottleneck_dim = 16;
    jit.in_context_len = 2;
    jit.in_context_start = 1;
    jit.attention = models::parse_attention(attention);
    for (const auto& config : {sit, models::ModelConfig{"", jit}}) {
      torch::manual_seed(3);
      auto model = models::build_model(config);
      for (auto& p : model->parameters()) p.data().normal_(0, 0.05);  // the reference init zeroes the output
      train::DaleObjective objective(train::DaleConfig{}, 10);
      auto gen = core::make_generator(4);
      auto x = torch::rand({4, 1, 32, 32}) * 2 - 1;
      auto loss = objective.loss([&](const torch::Tensor& in, const torch::Tensor& t,
                                     const torch::Tensor& y) { return model->forward(in, t, y); },
                                 x, torch::tensor({0, 3, 7, 9}, torch::kLong), gen);
      loss.backward();
      INFO(models::describe(config));
      CHECK(std::isfinite(loss.item<double>()));
      double grad_norm = 0;
      for (const auto& p : model->parameters())
        if (p.grad().defined()) grad_norm += p.grad().pow(2).sum().item<double>();
      CHECK(grad_norm > 0);
      CHECK(std::isfinite(grad_norm));
    }
  }
}

TEST_CASE("the class prior holds each class's per-pixel log statistics at T", "[unit][dale]") {
  train::DaleConfig config;
  // class 0: pixels 0 and 1 (x0 1.5, 2); class 1: pixel -1 and 0 alternately (x0 1, 1.5); class 2 empty
  auto x = torch::zeros({4, 1, 1, 2});
  x[0][0][0][1] = 1.0;
  x[1][0][0][1] = 1.0;
  x[2].fill_(-1.0);
  auto labels = torch::tensor({0, 0, 1, 1}, torch::kLong);
  auto priors = train::fit_dale_priors(x, labels, 3, config);
  const auto& mean = priors.at("prior_class_mean");
  const auto& std = priors.at("prior_class_std");
  REQUIRE(mean.sizes() == torch::IntArrayRef({4, 1, 1, 2}));
  CHECK(mean[0][0][0][0].item<double>() == Approx(std::log(1.5)));
  CHECK(mean[0][0][0][1].item<double>() == Approx(std::log(2.0)));
  CHECK(std[0][0][0][0].item<double>() == Approx(0.8));
  CHECK(mean[1][0][0][0].item<double>() == Approx(0.5 * std::log(1.5)));
  CHECK(std[1][0][0][0].item<double>() == Approx(std::sqrt(0.25 * std::log(1.5) * std::log(1.5) + 0.64)));
  CHECK(mean[2].equal(mean[3]));  // no images: the all-images row
  // sampling with z = 0 gives exp(mean) of each label's row; labels past the table read the last row
  auto z = torch::zeros({3, 1, 1, 2});
  auto start = train::sample_dale_prior(priors, "class", torch::tensor({0, 1, 7}, torch::kLong), z);
  CHECK(start[0][0][0][1].item<double>() == Approx(2.0));
  CHECK(start[1][0][0][0].item<double>() == Approx(std::sqrt(1.5)));
  CHECK(start[2].allclose(torch::exp(mean[3])));
  CHECK(train::resolve_dale_prior("auto", priors) == "class");
  priors.erase("prior_class_mean");
  CHECK(train::resolve_dale_prior("auto", priors) == "channel");
  CHECK_THROWS_WITH(train::resolve_dale_prior("class", priors), Catch::Contains("--prior channel"));
}

TEST_CASE("DLS and UMS recover the weights of a 1-D mixture from its exact score", "[unit][dale]") {
  const std::vector<double> atoms{1.2, 1.8}, weights{0.3, 0.7};
  const double sigma = 0.8, mu = 0.32;
  for (const std::string name : {"dls", "ums"}) {
    samplers::MultiplicativeConfig config;
    config.name = name;
    config.levels = 1000;
    auto gen = core::make_generator(11);
    // Start from the exact p_T: an atom drawn by weight, times exp(sigma W_1) (mu = sigma^2/2).
    auto z = at::randn({20000, 1, 1, 1}, gen, torch::kDouble);
    auto u = at::rand({20000, 1, 1, 1}, gen, torch::kDouble);
    auto x_init = (torch::where(u < weights[0], torch::full_like(u, atoms[0]), torch::full_like(u, atoms[1])) *
                   torch::exp(sigma * z)).to(torch::kFloat);
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
      config, [](const torch::Tensor& v, const torch::Tensor&) { return torch::full_like(v, -5.0); }, x.view({1000, 1}), gen);
  CHECK((result.raw > 0).all().item<bool>());
  CHECK(result.nonpositive == 0);
  config.name = "ums";
  auto ums = samplers::sample_multiplicative(
      config, [](const torch::Tensor& v, const torch::Tensor&) { return torch::full_like(v, -5.0); }, x.view({1000, 1}), gen);
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
  CHECK_THROWS_WITH(samplers::validate(samplers::MultiplicativeConfig{"leapfrog"}), Catch::Contains("leapfrog"));
}
