#include <catch2/catch.hpp>

#include "core/rng.h"
#include "samplers/path.h"
#include "objectives/flow_objective.h"
#include "test_helpers.h"

using namespace fluxion;

namespace {
// On a one-point dataset x*, the exact conditional target is a function of (x_t, t) alone, so a
// model computing it reaches zero loss. Each case returns that model for one prediction type.
objectives::ModelFn oracle(const std::string& prediction, const samplers::Path& path, const torch::Tensor& x_star) {
  return [=](const torch::Tensor& xt, const torch::Tensor& t, const torch::Tensor&) {
    auto a = samplers::Path::expand_t_like(path.alpha(t), xt);
    auto s = samplers::Path::expand_t_like(path.sigma(t), xt);
    auto noise = (xt - a * x_star) / s;
    if (prediction == "x") return x_star.expand_as(xt).clone();
    if (prediction == "noise") return noise;
    if (prediction == "score") return -noise / s;
    auto da = samplers::Path::expand_t_like(path.d_alpha(t), xt);
    auto ds = samplers::Path::expand_t_like(path.d_sigma(t), xt);
    return da * x_star + ds * noise;
  };
}
}  // namespace

TEST_CASE("flow-matching targets are exact on a one-point dataset", "[unit][objective]") {
  auto x_star = torch::rand({1, 2, 4, 4}) * 2 - 1;
  auto x = x_star.expand({16, 2, 4, 4}).clone();
  auto y = torch::zeros({16}, torch::kLong);
  for (const std::string path_name : {"linear", "gvp", "vp"}) {
    for (const std::string prediction : {"velocity", "noise", "score"}) {
      for (const std::string weight : {"none", "velocity", "likelihood"}) {
        if (prediction == "velocity" && weight != "none") continue;
        INFO(path_name << " " << prediction << " " << weight);
        objectives::FlowConfig config;
        config.path = path_name;
        config.prediction = prediction;
        config.loss_weight = weight;
        objectives::FlowObjective objective(config, 10);
        auto gen = core::make_generator(3);
        samplers::Path path(samplers::parse_path_type(path_name));
        const double loss = objective.loss(oracle(prediction, path, x_star), x, y, gen).item<double>();
        // A wrong model is penalised; the oracle's loss is float32 round-off only.
        const double wrong =
            objective
                .loss([](const torch::Tensor& xt, const torch::Tensor&, const torch::Tensor&) { return xt * 0; }, x, y,
                      gen)
                .item<double>();
        CHECK(wrong > 1e-3);
        CHECK(loss < 1e-6 * std::max(1.0, wrong));
      }
    }
  }
  objectives::FlowConfig jit;
  jit.prediction = "x";
  jit.time_sampling = "logit-normal";
  jit.noise_scale = 2.0;
  objectives::FlowObjective objective(jit, 10);
  auto gen = core::make_generator(4);
  samplers::Path linear(samplers::PathType::linear);
  CHECK(objective.loss(oracle("x", linear, x_star), x, y, gen).item<double>() < 1e-10);
}

TEST_CASE("time sampling follows SiT's intervals and JiT's logit-normal", "[unit][objective]") {
  auto gen = core::make_generator(5);
  objectives::FlowConfig noise;
  noise.prediction = "noise";
  objectives::FlowObjective a(noise, 10);
  CHECK(a.time_interval().first == Approx(1e-3));
  CHECK(a.time_interval().second == Approx(1 - 1e-3));
  objectives::FlowConfig vp;
  vp.path = "vp";
  objectives::FlowObjective b(vp, 10);
  CHECK(b.time_interval().first == 0.0);
  CHECK(b.time_interval().second == Approx(1 - 1e-5));
  auto t = b.sample_t(20000, torch::kCPU, gen);
  CHECK(t.min().item<double>() >= 0.0);
  CHECK(t.max().item<double>() <= 1 - 1e-5);
  CHECK(t.mean().item<double>() == Approx(0.5).margin(0.01));

  objectives::FlowConfig logit;
  logit.time_sampling = "logit-normal";
  objectives::FlowObjective c(logit, 10);
  auto tl = c.sample_t(40000, torch::kCPU, gen);
  auto logits = torch::log(tl / (1 - tl));
  CHECK(logits.mean().item<double>() == Approx(-0.8).margin(0.02));
  CHECK(logits.std().item<double>() == Approx(0.8).margin(0.02));
}

TEST_CASE("label dropout replaces labels with the null class at the configured rate", "[unit][objective]") {
  objectives::FlowConfig config;
  config.label_dropout = 0.25;
  objectives::FlowObjective objective(config, 10);
  auto gen = core::make_generator(6);
  auto y = torch::arange(40000, torch::kLong).remainder(10);
  auto dropped = objective.drop_labels(y, gen);
  const double rate = (dropped == 10).to(torch::kDouble).mean().item<double>();
  CHECK(rate == Approx(0.25).margin(0.01));
  CHECK(torch::equal(torch::where(dropped == 10, y, dropped), y));
}

TEST_CASE("bad objective settings are refused by name", "[unit][objective]") {
  objectives::FlowConfig config;
  config.path = "cosine";
  CHECK_THROWS_WITH(config.validate(), Catch::Contains("cosine"));
  config = {};
  config.prediction = "x";
  config.path = "vp";
  CHECK_THROWS_WITH(config.validate(), Catch::Contains("linear"));
  config = {};
  config.loss_weight = "snr";
  CHECK_THROWS_WITH(config.validate(), Catch::Contains("snr"));
}
