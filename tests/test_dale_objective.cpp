// The Dale objective (objectives/dale_objective.h): the GBM kernel score, M-DSM on a one-point
// dataset, the backbone's input and output maps, gradients through both backbone families, and
// M-DSM optimisation steps with the trainer's AdamW step.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "core/rng.h"
#include "models/jit.h"
#include "models/zoo.h"
#include "objectives/dale_objective.h"
#include "train/train_config.h"
#include "train/train_step.h"

using namespace fluxion;

namespace {
// log p(x_t | x0) of geometric Brownian motion (a log-normal density), in float64.
double log_kernel(double x, double x0, double t, double sigma, double mu) {
  const double m = std::log(x0) + (mu - 0.5 * sigma * sigma) * t;
  const double v = sigma * sigma * t;
  return -std::log(x) - 0.5 * std::log(2 * M_PI * v) - (std::log(x) - m) * (std::log(x) - m) / (2 * v);
}

// JiT's layout at test size: patches of `patch` on 32x32x1, 64 wide, two blocks, ten classes.
models::JiTConfig small_jit(int64_t patch) {
  models::JiTConfig jit;
  jit.input_size = 32;
  jit.patch_size = patch;
  jit.in_channels = 1;
  jit.hidden_size = 64;
  jit.depth = 2;
  jit.num_heads = 4;
  jit.num_classes = 10;
  jit.in_context_len = 2;
  jit.in_context_start = 1;
  return jit;
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
        objectives::DaleConfig config;
        config.input = input;
        config.output = output;
        config.weighting = weighting;
        config.label_dropout = 0.0;
        objectives::DaleObjective objective(config, 10);
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
        const double wrong =
            objective
                .loss([](const torch::Tensor& in, const torch::Tensor&, const torch::Tensor&) { return in * 0; }, x,
                      torch::zeros({64}, torch::kLong), gen)
                .item<double>();
        INFO(input << " input, " << output << " output, " << weighting << " weighting: exact " << exact << " wrong "
                   << wrong);
        CHECK(wrong > 1e-3);
        CHECK(exact < 1e-6 * wrong);
      }
}

TEST_CASE("the Dale model input puts the data range on [-1, 1] and the noise output stays finite at t = 0",
          "[unit][dale]") {
  objectives::DaleConfig config;
  config.offset = 1.0;
  for (const std::string input : {"log", "linear"}) {
    config.input = input;
    auto ends = objectives::dale_model_input(torch::tensor({1.0, 2.0}), config);
    CHECK(ends[0].item<double>() == Approx(-1.0));
    CHECK(ends[1].item<double>() == Approx(1.0));
  }
  config.input = "log";
  CHECK(objectives::dale_model_input(torch::tensor({std::sqrt(2.0)}), config).item<double>() ==
        Approx(0.0).margin(1e-6));
  // eps = 1 at t = 0 is read at the first level T / N: h = -1 - 1 / (sigma sqrt(1 / 1000))
  auto x = torch::full({2, 1, 2, 2}, 1.5);
  auto h = objectives::dale_hyvarinen_score(torch::ones_like(x), x, torch::zeros({2}), config);
  CHECK(h.min().item<double>() == Approx(-1.0 - 1.0 / (0.8 * std::sqrt(1e-3))));
  config.output = "score";
  CHECK(objectives::dale_hyvarinen_score(torch::ones_like(x), x, torch::zeros({2}), config).min().item<double>() ==
        Approx(1.5));
}

TEST_CASE("M-DSM gives finite gradients to both backbone families with every attention kind", "[unit][dale]") {
  for (const std::string attention : {"softmax", "gated", "linear"}) {
    models::ModelOverrides overrides;
    overrides.attention = attention;
    auto sit = models::zoo_config("SiT-T/4", overrides);
    auto jit = small_jit(16);  // 2x2 patches
    jit.bottleneck_dim = 16;
    jit.attention = models::parse_attention(attention);
    for (const auto& config : {sit, models::ModelConfig{"", jit}}) {
      torch::manual_seed(3);
      auto model = models::build_model(config);
      for (auto& p : model->parameters()) p.data().normal_(0, 0.05);  // the reference init zeroes the output
      objectives::DaleObjective objective(objectives::DaleConfig{}, 10);
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

TEST_CASE("M-DSM steps with AdamW take SiT and JiT from E[z^2] = 1 to a lower loss", "[unit][dale]") {
  // Four images, one per class: a bright rectangle in a different place on a dark ground.
  auto x = torch::full({4, 1, 32, 32}, -1.0);
  for (int64_t k = 0; k < 4; ++k) x[k][0].narrow(0, 2 + 6 * k, 10).narrow(1, 20 - 5 * k, 12).fill_(1.0);
  auto y = torch::arange(4, torch::kLong);
  auto jit = small_jit(8);  // 4x4 patches
  // As wide as a patch: through JiT's narrow bottleneck (16, made for x-prediction) the per-pixel
  // noise cannot pass, and the loss stalls near 0.78.
  jit.bottleneck_dim = 64;
  for (const auto& config : {models::zoo_config("SiT-T/4"), models::ModelConfig{"", jit}}) {
    INFO(models::describe(config));
    torch::manual_seed(3);
    auto model = models::build_model(config);  // the reference init: a zero output layer
    train::TrainConfig recipe;                 // lr 1e-3, clip 1, the trainer's defaults
    recipe.ema_decays = {0.9};
    train::TrainStep step(*model, recipe);
    const objectives::DaleObjective objective(objectives::DaleConfig{}, 10);
    const objectives::ModelFn model_fn = [&](const torch::Tensor& in, const torch::Tensor& t,
                                             const torch::Tensor& labels) { return model->forward(in, t, labels); };
    // The loss on fixed draws (t, z, dropped labels) for 16 copies of the four images.
    auto held_out_loss = [&] {
      torch::NoGradGuard no_grad;
      auto gen = core::make_generator(100);
      return objective.loss(model_fn, x.repeat({16, 1, 1, 1}), y.repeat({16}), gen).item<double>();
    };
    std::vector<torch::Tensor> before;
    for (const auto& [name, p] : step.trainable()) before.push_back(p.detach().clone());
    const double initial = held_out_loss();
    // eps = 0 everywhere: the loss is the mean of z^2 over 64 x 1024 draws, 1 +- 0.006
    CHECK(initial == Approx(1.0).margin(0.03));
    auto gen = core::make_generator(7);
    for (int s = 0; s < 40; ++s) {
      const auto loss = step.backward(
          [&](int64_t) {
            return objective.loss(model_fn, x.repeat({2, 1, 1, 1}), y.repeat({2}), gen);
          },
          1);
      REQUIRE(step.apply(loss, recipe.lr).finite.item<bool>());
    }
    const double trained = held_out_loss();
    INFO("held-out loss " << initial << " -> " << trained);
    CHECK(trained < 0.7 * initial);  // measured: SiT 0.09, JiT 0.49 after 40 steps
    size_t i = 0;
    for (const auto& [name, p] : step.trainable()) {
      INFO(name);
      CHECK(!torch::equal(p.detach(), before[i++]));  // every trainable tensor took steps
    }
  }
}

TEST_CASE("Dale's loss is its loss on its own draws: t on the level grid, z, dropped labels", "[unit][dale]") {
  objectives::DaleConfig config;
  config.label_dropout = 0.5;
  const objectives::DaleObjective objective(config, 10);
  const auto x = torch::rand({6, 1, 8, 8}) * 2 - 1;
  const auto y = torch::arange(6, torch::kLong);
  const objectives::ModelFn model = [](const torch::Tensor& in, const torch::Tensor& t, const torch::Tensor& labels) {
    return in * t.view({-1, 1, 1, 1}) + labels.to(torch::kFloat).view({-1, 1, 1, 1}) * 1e-3;
  };
  auto gen_a = core::make_generator(9), gen_b = core::make_generator(9);
  const auto whole = objective.loss(model, x, y, gen_a);
  const auto draws = objective.draws(x, y, gen_b, 6, 0);
  REQUIRE(draws.size() == 3);
  CHECK(torch::equal(objective.loss_on_draws(model, x, draws), whole));
  const auto& t = draws[0];
  CHECK(t.sizes() == torch::IntArrayRef({6}));
  const auto levels = t * (static_cast<double>(config.levels) / config.horizon);
  CHECK(torch::allclose(levels, levels.round(), 0, 1e-4));  // t = idx T / N
  CHECK(((levels >= 1) & (levels <= config.levels - 1)).all().item<bool>());
  CHECK(draws[1].sizes() == x.sizes());
  const auto& labels = draws[2];
  CHECK(((labels == y) | (labels == 10)).all().item<bool>());
  // a data-parallel slice draws the global batch and keeps its rows
  auto gen_c = core::make_generator(9);
  const auto slice = objective.draws(x.narrow(0, 2, 3), y.narrow(0, 2, 3), gen_c, 6, 2);
  for (size_t i = 0; i < 3; ++i) CHECK(torch::equal(slice[i], draws[i].narrow(0, 2, 3)));
}
