#include <ATen/CPUGeneratorImpl.h>

#include <catch2/catch.hpp>
#include <cmath>

#include "core/error.h"
#include "samplers/sampler.h"

using namespace fluxion;
using namespace fluxion::samplers;

namespace {

// Gaussian data N(1.5, 0.5^2) on the linear path; exact flow map x(1) = 1.5 + 0.5 x(0).
torch::Tensor gaussian_velocity(const torch::Tensor& x, const torch::Tensor& t) {
  const auto tb = Path::expand_t_like(t, x);
  const auto var = tb * tb * 0.25 + (1 - tb) * (1 - tb);
  return 1.5 + (tb * 0.25 - (1 - tb)) / var * (x - tb * 1.5);
}

}  // namespace

TEST_CASE("every sampler name runs and reports the NFE it predicted", "[unit][sampler]") {
  const auto noise = torch::linspace(-2.5, 2.5, 32, torch::kDouble).view({16, 2});
  const auto exact = 1.5 + 0.5 * noise;
  for (const auto& name : sampler_names()) {
    SamplerConfig config;
    config.name = name;
    config.steps = 20;
    config.last_step = "none";
    int64_t calls = 0;
    Field counted = [&](const torch::Tensor& x, const torch::Tensor& t) {
      ++calls;
      return gaussian_velocity(x, t);
    };
    auto gen = at::detail::createCPUGenerator(3);
    const auto spec = parse_sampler(config);
    const auto result = sample(spec, counted, noise, gen);
    INFO(spec.description << ": nfe " << result.nfe);
    CHECK(result.nfe == calls);
    if (name != "dopri5") CHECK(result.nfe == expected_nfe(spec));
    if (name != "euler-maruyama" && name != "sde-heun") {
      // Euler is first order (20 steps leave a few percent); DPM++ on a uniform-t grid takes
      // first-order steps at both ends.
      const double tolerance = name == "euler" ? 0.1 : name == "dpm++2m" ? 0.02 : 0.01;
      CHECK((result.x - exact).abs().max().item<double>() < tolerance);
    }
  }
}

TEST_CASE("sampler configs: names, descriptions, grids and errors", "[unit][sampler]") {
  SamplerConfig config;
  config.name = "heun";
  config.steps = 50;
  config.heun_last_step_euler = true;
  CHECK(parse_sampler(config).description.rfind("heun, 50 steps, 99 NFE", 0) == 0);
  config.heun_last_step_euler = false;
  CHECK(parse_sampler(config).description == "heun, 50 steps, 100 NFE");
  config.name = "dopri5";
  CHECK(parse_sampler(config).description == "dopri5, atol 1e-06, rtol 0.001, adaptive NFE");
  CHECK(expected_nfe(parse_sampler(config)) == -1);
  config.name = "euler-maruyama";
  config.steps = 250;
  CHECK(expected_nfe(parse_sampler(config)) == 250);
  const auto grid = sampler_time_grid(parse_sampler(config));
  REQUIRE(grid.size() == 250);
  CHECK(grid.back() == Approx(0.96));  // SiT: t1 = 1 - last_step_size

  config.name = "rk5";
  try {
    parse_sampler(config);
    FAIL("accepted sampler rk5");
  } catch (const Error& e) {
    const std::string what = e.what();
    CHECK(what.find("'rk5'") != std::string::npos);
    CHECK(what.find("euler, heun, midpoint, rk4, dopri5, dpm++2m, euler-maruyama, sde-heun, dls, ums") !=
          std::string::npos);
    CHECK(what.find('\n') == std::string::npos);
  }
  config.name = "euler";
  config.diffusion_form = "nope";
  CHECK_NOTHROW(parse_sampler(config));  // only SDE samplers read the diffusion form
  config.name = "sde-heun";
  CHECK_THROWS_WITH(parse_sampler(config), Catch::Contains("diffusion form 'nope'"));
  config.diffusion_form = "sigma";
  config.cfg_space = "latent";
  CHECK_THROWS_WITH(parse_sampler(config), Catch::Contains("cfg_space 'latent'"));
  config.name = "dls";  // the multiplicative family reads only its own fields
  CHECK_NOTHROW(parse_sampler(config));
  config.level_stride = 0;
  CHECK_THROWS_WITH(parse_sampler(config), Catch::Contains("level stride"));
}

TEST_CASE("JiT-style sampling: x-prediction, Heun with last Euler step", "[unit][sampler]") {
  // An x-prediction model that knows the Gaussian posterior mean.
  Field x_model = [](const torch::Tensor& x, const torch::Tensor& t) {
    const auto tb = Path::expand_t_like(t, x);
    const auto var = tb * tb * 0.25 + (1 - tb) * (1 - tb);
    return 1.5 + tb * 0.25 / var * (x - tb * 1.5);
  };
  SamplerConfig config;
  config.name = "heun";
  config.steps = 50;
  config.heun_last_step_euler = true;
  config.prediction = "x";
  const auto noise = torch::linspace(-2.5, 2.5, 32, torch::kDouble);
  auto gen = at::detail::createCPUGenerator(0);
  auto result = sample(parse_sampler(config), x_model, noise, gen);
  CHECK(result.nfe == 99);
  CHECK((result.x - (1.5 + 0.5 * noise)).abs().max().item<double>() < 1e-3);

  // With JiT's clamp t_eps = 0.05 the result is exactly JiT's generate() loop.
  config.t_eps = 0.05;
  result = sample(parse_sampler(config), x_model, noise, gen);
  auto v = [&](const torch::Tensor& z, double t) {
    const auto tt = torch::full({z.size(0)}, t, torch::kDouble);
    return (x_model(z, tt) - z) / std::max(1.0 - t, 0.05);
  };
  auto z = noise;
  for (int i = 0; i < 50; ++i) {
    const double t = i / 50.0, t_next = (i + 1) / 50.0;
    const auto v_t = v(z, t);
    if (i == 49) {
      z = z + (t_next - t) * v_t;
    } else {
      const auto z_euler = z + (t_next - t) * v_t;
      z = z + (t_next - t) * 0.5 * (v_t + v(z_euler, t_next));
    }
  }
  CHECK((result.x - z).abs().max().item<double>() < 1e-12);
}

TEST_CASE("SiT's sampling intervals carried into a SamplerConfig", "[unit][sampler]") {
  SamplerConfig config;
  config.name = "dopri5";
  config.prediction = "noise";
  auto sit = with_sit_interval(config);
  CHECK(sit.start_eps == 1e-3);
  CHECK(sit.end_eps == Approx(1e-3));
  config.prediction = "velocity";
  sit = with_sit_interval(config);
  CHECK(sit.start_eps == 0.0);
  CHECK(sit.end_eps == 0.0);
  config.name = "euler-maruyama";
  config.diffusion_form = "SBDM";
  config.path = "gvp";
  config.prediction = "score";
  sit = with_sit_interval(config);
  CHECK(sit.start_eps == 1e-3);
  CHECK(sampler_time_grid(parse_sampler(sit)).back() == Approx(0.96));

  // SBDM is infinite at t = 0 on the linear path: a clear error, not NaN samples.
  config.path = "linear";
  config.prediction = "velocity";
  config.steps = 5;
  auto gen = at::detail::createCPUGenerator(0);
  Field zero = [](const torch::Tensor& x, const torch::Tensor&) { return torch::zeros_like(x); };
  CHECK_THROWS_WITH(sample(parse_sampler(config), zero, torch::zeros({2, 2}), gen),
                    Catch::Contains("diffusion form SBDM is not finite at t0 = 0"));
  config.start_eps = 1e-3;
  CHECK(torch::isfinite(sample(parse_sampler(config), zero, torch::zeros({2, 2}), gen).x).all().item<bool>());
}

TEST_CASE("samplers keep float32 inputs in float32", "[unit][sampler]") {
  const auto noise = torch::linspace(-2, 2, 24).view({4, 2, 3});
  for (const auto& name : sampler_names()) {
    SamplerConfig config;
    config.name = name;
    config.steps = 6;
    config.cfg_scale = 2.0;
    auto gen = at::detail::createCPUGenerator(1);
    ModelFn model = [](const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& y) {
      const auto tb = Path::expand_t_like(t, x);
      return gaussian_velocity(x, t) + 0.01 * Path::expand_t_like(y.to(x.dtype()), x) * tb;
    };
    const auto result = sample(parse_sampler(config), model, torch::tensor({1, 2, 3, 4}), noise, gen);
    INFO(name);
    CHECK(result.x.scalar_type() == torch::kFloat);
    CHECK(result.x.sizes() == noise.sizes());
    CHECK(torch::isfinite(result.x).all().item<bool>());
  }
}

TEST_CASE("the multiplicative samplers run through the same entry point", "[unit][sampler]") {
  // dls and ums via parse_sampler + sample() equal sample_multiplicative on the same draws, and a
  // conditional model gets its labels unguided.
  const auto x = torch::linspace(1.1, 1.9, 24).view({4, 2, 3});
  const auto labels = torch::tensor({0, 1, 2, 3}, torch::kLong);
  for (const auto& name : multiplicative_sampler_names()) {
    SamplerConfig config;
    config.name = name;
    config.levels = 50;
    config.level_stride = 5;
    config.cfg_scale = 3.0;  // flow guidance: not read by this family
    const auto spec = parse_sampler(config);
    REQUIRE(spec.family == SamplerFamily::multiplicative);
    CHECK(spec.multiplicative.rule == (name == "ums" ? MultiplicativeRule::ums : MultiplicativeRule::dls));
    CHECK(spec.description == describe(spec.multiplicative));
    Field score = [](const torch::Tensor& v, const torch::Tensor& t) {
      return -1.0 - 0.3 * torch::log(v) * Path::expand_t_like(t, v);
    };
    ModelFn model = [&](const torch::Tensor& v, const torch::Tensor& t, const torch::Tensor& y) {
      CHECK(torch::equal(y, labels));
      return score(v, t);
    };
    auto gen_a = at::detail::createCPUGenerator(4), gen_b = at::detail::createCPUGenerator(4),
         gen_c = at::detail::createCPUGenerator(4);
    const auto direct = sample_multiplicative(spec.multiplicative, score, x, gen_a);
    const auto unconditional = sample(spec, score, x, gen_b);
    const auto conditional = sample(spec, model, labels, x, gen_c);
    INFO(name);
    CHECK(unconditional.nfe == expected_nfe(spec));
    CHECK(conditional.nfe == direct.nfe);
    CHECK(torch::equal(unconditional.x, direct.x));
    CHECK(torch::equal(conditional.x, direct.x));
    CHECK(torch::equal(conditional.unclamped, direct.raw));
    CHECK(conditional.lost_images == direct.lost_images);
    CHECK(sampler_time_grid(spec).empty());
  }
}
