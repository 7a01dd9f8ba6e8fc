#include <ATen/CPUGeneratorImpl.h>

#include <catch2/catch.hpp>
#include <cmath>

#include "core/error.h"
#include "samplers/guidance.h"
#include "samplers/sampler.h"

using namespace fluxion;
using namespace fluxion::samplers;

namespace {

// A conditional "model" whose output depends on x, t and the label, and that counts its calls
// and the rows it was given.
struct FakeModel {
  int64_t calls = 0;
  int64_t rows = 0;
  ModelFn fn() {
    return [this](const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& y) {
      ++calls;
      rows += x.size(0);
      const auto tb = Path::expand_t_like(t, x);
      const auto yb = Path::expand_t_like(y.to(x.dtype()), x);
      return x * (1.0 + 0.01 * yb) + tb * torch::sin(yb);
    };
  }
};

torch::Tensor direct(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& y) {
  FakeModel model;
  return model.fn()(x, t, y);
}

const int64_t kNull = 1000;

}  // namespace

TEST_CASE("CFG with scale 1 equals the conditional output", "[unit][guidance]") {
  const auto x = torch::randn({3, 4, 2, 2}, torch::kDouble);
  const auto y = torch::tensor({1, 7, 42}, torch::kLong);
  const auto t = torch::full({3}, 0.5, torch::kDouble);
  FakeModel model;
  GuidanceConfig config;
  config.scale = 1.0;
  const auto guided = guide(model.fn(), y, config);
  CHECK(torch::equal(guided.fn(x, t), direct(x, t, y)));
  CHECK(model.rows == 3);  // no unconditional pass needed
}

TEST_CASE("CFG combines cond and uncond as uncond + s (cond - uncond)", "[unit][guidance]") {
  const auto x = torch::randn({3, 4, 2, 2}, torch::kDouble);
  const auto y = torch::tensor({1, 7, 42}, torch::kLong);
  const auto t = torch::full({3}, 0.5, torch::kDouble);
  const auto cond = direct(x, t, y);
  const auto uncond = direct(x, t, torch::full({3}, kNull, torch::kLong));
  for (bool separate : {false, true}) {
    FakeModel model;
    GuidanceConfig config;
    config.scale = 4.0;
    config.separate_passes = separate;
    const auto out = guide(model.fn(), y, config).fn(x, t);
    INFO("separate passes " << separate);
    CHECK(torch::allclose(out, uncond + 4.0 * (cond - uncond), 1e-12, 1e-12));
    CHECK(model.calls == (separate ? 2 : 1));
    CHECK(model.rows == 6);
  }
}

TEST_CASE("the guidance interval switches exactly at its bounds", "[unit][guidance]") {
  GuidanceConfig config;
  config.scale = 3.0;
  config.interval_lo = 0.1;
  config.interval_hi = 0.75;
  // JiT: open interval (lo, hi).
  CHECK_FALSE(guidance_active(0.1, config));
  CHECK(guidance_active(std::nextafter(0.1, 1.0), config));
  CHECK(guidance_active(std::nextafter(0.75, 0.0), config));
  CHECK_FALSE(guidance_active(0.75, config));
  CHECK_FALSE(guidance_active(0.0, config));
  CHECK_FALSE(guidance_active(1.0, config));
  // lo = 0 means no lower bound (JiT's `low == 0`), hi = 1 no upper bound.
  config.interval_lo = 0.0;
  config.interval_hi = 1.0;
  CHECK(guidance_active(0.0, config));
  CHECK(guidance_active(1.0, config));

  // The tensor mask and the guided callable agree, row by row (mixed times in one batch).
  config.interval_lo = 0.1;
  config.interval_hi = 0.75;
  const auto t =
      torch::tensor({0.1, std::nextafter(0.1, 1.0), 0.5, std::nextafter(0.75, 0.0), 0.75, 0.0}, torch::kDouble);
  const auto mask = guidance_mask(t, config);
  const std::vector<bool> expected = {false, true, true, true, false, false};
  const auto x = torch::randn({6, 3}, torch::kDouble);
  const auto y = torch::full({6}, 5, torch::kLong);
  FakeModel model;
  const auto out = guide(model.fn(), y, config).fn(x, t);
  const auto cond = direct(x, t, y);
  const auto uncond = direct(x, t, torch::full({6}, kNull, torch::kLong));
  for (int i = 0; i < 6; ++i) {
    INFO("row " << i << " t " << t[i].item<double>());
    CHECK(mask[i].item<bool>() == expected[i]);
    const auto want = expected[i] ? uncond[i] + 3.0 * (cond[i] - uncond[i]) : cond[i];
    CHECK(torch::allclose(out[i], want, 1e-12, 1e-12));
  }
  // All rows outside: one conditional pass only.
  FakeModel outside;
  guide(outside.fn(), y, config).fn(x, torch::full({6}, 0.05, torch::kDouble));
  CHECK(outside.rows == 6);
}

TEST_CASE("SiT's first-3-channels rule leaves the other channels conditional", "[unit][guidance]") {
  const auto x = torch::randn({2, 4, 3, 3}, torch::kDouble);
  const auto y = torch::tensor({3, 9}, torch::kLong);
  const auto t = torch::full({2}, 0.4, torch::kDouble);
  const auto cond = direct(x, t, y);
  const auto uncond = direct(x, t, torch::full({2}, kNull, torch::kLong));
  GuidanceConfig config;
  config.scale = 1.5;
  config.channels = 3;
  FakeModel model;
  const auto out = guide(model.fn(), y, config).fn(x, t);
  const auto guided = uncond + 1.5 * (cond - uncond);
  CHECK(torch::allclose(out.narrow(1, 0, 3), guided.narrow(1, 0, 3), 1e-12, 1e-12));
  CHECK(torch::equal(out.narrow(1, 3, 1), cond.narrow(1, 3, 1)));
  CHECK(!torch::allclose(out.narrow(1, 3, 1), guided.narrow(1, 3, 1)));
}

TEST_CASE("velocity-space guidance converts cond and uncond first (JiT)", "[unit][guidance]") {
  const auto x = torch::randn({2, 3}, torch::kDouble);
  const auto y = torch::tensor({3, 9}, torch::kLong);
  const auto t = torch::full({2}, 0.98, torch::kDouble);
  GuidanceConfig config;
  config.scale = 2.5;
  config.space = GuidanceSpace::velocity;
  config.separate_passes = true;
  ConversionOptions conversion;
  conversion.t_eps = 0.05;
  FakeModel model;
  const auto guided = guide(model.fn(), y, config, PredictionType::x, Path(PathType::linear), conversion);
  CHECK(guided.output_type == PredictionType::velocity);
  // JiT: v = (x_hat - z) / clamp(1 - t, 0.05) for each, then uncond + s (cond - uncond).
  const auto v_cond = (direct(x, t, y) - x) / 0.05;
  const auto v_uncond = (direct(x, t, torch::full({2}, kNull, torch::kLong)) - x) / 0.05;
  CHECK(torch::allclose(guided.fn(x, t), v_uncond + 2.5 * (v_cond - v_uncond), 1e-9, 1e-9));
}

TEST_CASE("sample() with CFG scale 1 equals sampling the conditional model", "[unit][guidance]") {
  const auto noise = torch::randn({3, 2}, torch::kDouble);
  const auto y = torch::tensor({0, 1, 2}, torch::kLong);
  SamplerConfig config;
  config.name = "heun";
  config.steps = 4;
  auto gen = at::detail::createCPUGenerator(0);
  FakeModel model;
  const auto guided = sample(parse_sampler(config), model.fn(), y, noise, gen);
  Field conditional = [&](const torch::Tensor& x, const torch::Tensor& t) { return direct(x, t, y); };
  const auto plain = sample(parse_sampler(config), conditional, noise, gen);
  CHECK(torch::equal(guided.x, plain.x));
  CHECK(guided.nfe == 8);
  config.cfg_scale = 2.0;
  FakeModel doubled;
  const auto with_cfg = sample(parse_sampler(config), doubled.fn(), y, noise, gen);
  CHECK(with_cfg.nfe == 8);
  CHECK(doubled.rows == 8 * 6);  // each NFE is one forward of the doubled batch
  CHECK(!torch::allclose(with_cfg.x, plain.x));
}
