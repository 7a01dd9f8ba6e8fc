// The samplers on the golden SiT (official weights of a tiny SiT): Euler and Heun through
// fluxion's sampler module equal a plain loop written from SiT's formulas. Labelled [unit], not
// [golden]: the reference is that loop, not an output of the official code.
#include <catch2/catch.hpp>

#include "core/rng.h"
#include "golden_models.h"
#include "samplers/sampler.h"
#include "test_helpers.h"

using namespace fluxion;

TEST_CASE("Euler and Heun on the golden SiT match a loop written from SiT's formulas", "[unit][sampler]") {
  const auto golden = test::load_golden_model("sit_tiny.safetensors", "SiT");
  if (!golden) return;
  torch::NoGradGuard no_grad;
  const auto& model = golden->model;
  auto noise = golden->tensors.at("input.x");
  auto y = golden->tensors.at("input.y");
  auto velocity = [&](const torch::Tensor& x, const torch::Tensor& t) { return model->forward(x, t, y); };
  const int steps = 10;
  auto gen = core::make_generator(0);

  // Euler on linspace(0, 1, steps + 1).
  auto x = noise.clone();
  for (int k = 0; k < steps; ++k) {
    const double t = double(k) / steps, h = 1.0 / steps;
    x = x + h * velocity(x, torch::full({x.size(0)}, t));
  }
  samplers::SamplerConfig euler;
  euler.name = "euler";
  euler.steps = steps;
  auto ours = samplers::sample(samplers::parse_sampler(euler), velocity, noise, gen);
  CHECK(ours.nfe == steps);
  CHECK(test::max_abs_diff(ours.x, x) < 1e-5);

  // Heun (explicit trapezoid): k1 = v(x, t), k2 = v(x + h k1, t + h), x += h (k1 + k2) / 2.
  x = noise.clone();
  for (int k = 0; k < steps; ++k) {
    const double t = double(k) / steps, h = 1.0 / steps;
    auto k1 = velocity(x, torch::full({x.size(0)}, t));
    auto k2 = velocity(x + h * k1, torch::full({x.size(0)}, t + h));
    x = x + h * 0.5 * (k1 + k2);
  }
  samplers::SamplerConfig heun;
  heun.name = "heun";
  heun.steps = steps;
  ours = samplers::sample(samplers::parse_sampler(heun), velocity, noise, gen);
  CHECK(ours.nfe == 2 * steps);
  CHECK(test::max_abs_diff(ours.x, x) < 1e-5);
}
