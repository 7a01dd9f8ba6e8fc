// samplers/graphed_model.h: the sampler's network replayed from CUDA graphs gives the eager
// samples to the bit, falls back to eager execution when a capture fails, and runs eagerly on the
// CPU.
#include <catch2/catch.hpp>

#include "backbone_checks.h"
#include "core/compat.h"
#include "core/rng.h"
#include "objectives/backbone_model_fn.h"
#include "samplers/graphed_model.h"
#include "samplers/sampler.h"
#include "test_helpers.h"

using namespace fluxion;

namespace {
// A class-conditional SiT-T/4 on 32 x 32 x 1 with seeded random weights, as fluxion sample calls it.
struct TinyModel {
  models::BackbonePtr model;
  samplers::ModelFn fn;
};

TinyModel tiny_model(const torch::Device& device) {
  TinyModel m{test::tiny_sit(32, 7), nullptr};
  m.model->to(device);
  m.model->eval();
  m.fn = objectives::backbone_model_fn(m.model);
  return m;
}

torch::Tensor run_sampler(const std::string& name, int64_t steps, double cfg, const samplers::ModelFn& fn,
                          const torch::Device& device, torch::ScalarType precision) {
  samplers::SamplerConfig config;
  config.name = name;
  config.steps = steps;
  config.cfg_scale = cfg;
  config.null_label = 10;
  const auto spec = samplers::parse_sampler(config);
  auto gen = core::make_generator(3, device);
  const auto x = core::randn({6, 1, 32, 32}, gen).to(device);
  const auto labels = torch::arange(6, torch::kLong).remainder(10).to(device);
  torch::NoGradGuard no_grad;
  compat::AutocastGuard autocast(device.type(), precision);
  return samplers::sample(spec, fn, labels, x, gen).x.cpu();
}
}  // namespace

TEST_CASE("a graphed model runs eagerly on CPU inputs, with the eager result", "[unit][sampler]") {
  const auto m = tiny_model(torch::kCPU);
  auto stats = std::make_shared<samplers::GraphStats>();
  const auto graphed = samplers::graphed(m.fn, /*enabled=*/true, stats);
  const auto eager = run_sampler("heun", 3, 1.5, m.fn, torch::kCPU, torch::kFloat);
  const auto through = run_sampler("heun", 3, 1.5, graphed, torch::kCPU, torch::kFloat);
  CHECK(torch::equal(eager, through));
  CHECK(stats->captures == 0);
  CHECK(stats->replays == 0);
  CHECK(stats->eager_calls == 6);  // Heun: 2 NFE per step (guidance batches cond and uncond in one)
  CHECK_FALSE(stats->capture_failed);
}

TEST_CASE("samplers replayed from CUDA graphs give the eager samples to the bit", "[cuda][sampler]") {
  if (!torch::cuda::is_available()) test::skip_test("CUDA not available");
  REQUIRE(samplers::cuda_graphs_available());
  const auto m = tiny_model(torch::kCUDA);
  for (const auto& [name, cfg] : std::vector<std::pair<std::string, double>>{{"heun", 1.5}, {"euler-maruyama", 1.0}}) {
    for (auto precision : {torch::kFloat, torch::kBFloat16}) {
      INFO(name << " cfg " << cfg << " " << c10::toString(precision));
      auto stats = std::make_shared<samplers::GraphStats>();
      const auto graphed = samplers::graphed(m.fn, true, stats);
      const auto eager = run_sampler(name, 8, cfg, m.fn, torch::kCUDA, precision);
      const auto replayed = run_sampler(name, 8, cfg, graphed, torch::kCUDA, precision);
      INFO("largest difference " << test::max_abs_diff(eager, replayed));
      CHECK(torch::equal(eager, replayed));
      CHECK(stats->captures == 1);  // one batch shape (the guided batch doubled)
      CHECK(stats->replays >= 8);
      CHECK(stats->eager_calls == 0);
      // a second run replays the graph it has: no new capture, the same samples
      CHECK(torch::equal(run_sampler(name, 8, cfg, graphed, torch::kCUDA, precision), eager));
      CHECK(stats->captures == 1);
    }
  }
}

TEST_CASE("a model that waits for the host inside its forward falls back to eager execution", "[cuda][sampler]") {
  if (!torch::cuda::is_available()) test::skip_test("CUDA not available");
  const auto m = tiny_model(torch::kCUDA);
  // .item() synchronises with the host, which a stream capture does not allow
  const samplers::ModelFn syncing = [&](const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& y) {
    return m.fn(x, t, y) * (1.0 + 0.0 * t.sum().item<double>());
  };
  auto stats = std::make_shared<samplers::GraphStats>();
  const auto graphed = samplers::graphed(syncing, true, stats);
  const auto eager = run_sampler("euler", 4, 1.0, syncing, torch::kCUDA, torch::kFloat);
  const auto fallen_back = run_sampler("euler", 4, 1.0, graphed, torch::kCUDA, torch::kFloat);
  CHECK(torch::equal(eager, fallen_back));
  CHECK(stats->capture_failed);
  CHECK(stats->captures == 0);
  CHECK(stats->eager_calls == 4);
  // CUDA works as before after the failed capture
  const auto a = torch::ones({4}, torch::kCUDA);
  CHECK((a + a).sum().item<double>() == 8.0);
}
