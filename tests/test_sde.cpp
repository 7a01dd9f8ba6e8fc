#include <ATen/CPUGeneratorImpl.h>

#include <catch2/catch.hpp>
#include <cmath>

#include "core/error.h"
#include "samplers/sde.h"
#include "samplers/time_grid.h"

using namespace fluxion;
using namespace fluxion::samplers;

namespace {

// Data N(m, s^2) per dimension on the linear path: x_t ~ N(t m, V), V = t^2 s^2 + (1 - t)^2,
// with the exact velocity m + (t s^2 - (1 - t)) / V (x - t m) and score -(x - t m) / V.
const double kMean = 1.5, kStd = 0.5;

torch::Tensor variance_at(const torch::Tensor& tb) { return tb * tb * kStd * kStd + (1 - tb) * (1 - tb); }

torch::Tensor gaussian_velocity(const torch::Tensor& x, const torch::Tensor& t) {
  const auto tb = Path::expand_t_like(t, x);
  return kMean + (tb * kStd * kStd - (1 - tb)) / variance_at(tb) * (x - tb * kMean);
}

torch::Tensor gaussian_score(const torch::Tensor& x, const torch::Tensor& t) {
  const auto tb = Path::expand_t_like(t, x);
  return -(x - tb * kMean) / variance_at(tb);
}

struct Moments {
  double mean, variance;
};

Moments moments_of(const torch::Tensor& x) { return {x.mean().item<double>(), x.var().item<double>()}; }

void check_gaussian(const torch::Tensor& x) {
  const double n = static_cast<double>(x.numel());
  const auto m = moments_of(x);
  // Standard errors of the sample mean and variance of N(m, s^2).
  const double se_mean = kStd / std::sqrt(n);
  const double se_var = kStd * kStd * std::sqrt(2.0 / (n - 1));
  INFO("mean " << m.mean << " (se " << se_mean << "), variance " << m.variance << " (se " << se_var << ")");
  CHECK(std::abs(m.mean - kMean) < 4 * se_mean);
  CHECK(std::abs(m.variance - kStd * kStd) < 4 * se_var);
}

}  // namespace

TEST_CASE("Euler-Maruyama with the exact velocity reproduces Gaussian data", "[unit][sde]") {
  auto gen = at::detail::createCPUGenerator(1234);
  const auto noise = at::randn({20000, 2}, gen, torch::kDouble);
  SdeConfig config;
  config.solver = SdeSolver::euler_maruyama;
  config.diffusion = DiffusionForm::sigma;
  config.last_step = LastStep::none;
  const auto result = sample_sde(gaussian_velocity, PredictionType::velocity, Path(PathType::linear), noise,
                                 uniform_grid(251), config, gen);
  CHECK(result.nfe == 250);
  check_gaussian(result.x);
}

TEST_CASE("stochastic Heun with the exact score reproduces Gaussian data", "[unit][sde]") {
  auto gen = at::detail::createCPUGenerator(99);
  const auto noise = at::randn({20000, 2}, gen, torch::kDouble);
  SdeConfig config;
  config.solver = SdeSolver::heun;
  config.diffusion = DiffusionForm::linear;
  config.diffusion_norm = 2.0;
  config.last_step = LastStep::none;
  // A score model this time: the sampler derives the velocity through prediction.h. t0 > 0
  // because the score-to-velocity form has d_alpha / alpha = 1 / t. Start from the exact x_t0.
  const double t0 = 1e-3;
  const auto x_t0 = t0 * kMean + std::sqrt(t0 * t0 * kStd * kStd + (1 - t0) * (1 - t0)) * noise;
  const auto result = sample_sde(gaussian_score, PredictionType::score, Path(PathType::linear), x_t0,
                                 uniform_grid(101, t0, 1.0), config, gen);
  CHECK(result.nfe == 200);
  check_gaussian(result.x);
}

TEST_CASE("stochastic Heun may evaluate t = 1 where the sigma form vanishes", "[unit][sde]") {
  // The score derived from a velocity divides by sigma(1) = 0; w(1) = 0 must drop it, not NaN.
  auto gen = at::detail::createCPUGenerator(7);
  SdeConfig config;
  config.solver = SdeSolver::heun;
  config.diffusion = DiffusionForm::sigma;
  config.last_step = LastStep::none;
  const auto result = sample_sde(gaussian_velocity, PredictionType::velocity, Path(),
                                 torch::randn({64, 2}, torch::kDouble), uniform_grid(11), config, gen);
  CHECK(torch::isfinite(result.x).all().item<bool>());
}

TEST_CASE("SDE samples are reproducible from the caller's generator", "[unit][sde]") {
  SdeConfig config;
  const auto grid = uniform_grid(10, 0.0, 0.96);
  const auto noise = torch::randn({8, 3}, torch::kDouble);
  auto run = [&](uint64_t seed) {
    auto gen = at::detail::createCPUGenerator(seed);
    return sample_sde(gaussian_velocity, PredictionType::velocity, Path(), noise, grid, config, gen).x;
  };
  CHECK(torch::equal(run(5), run(5)));
  CHECK(!torch::equal(run(5), run(6)));
}

TEST_CASE("SiT's last steps", "[unit][sde]") {
  // With zero diffusion the SDE step is a plain Euler step, so every result is deterministic.
  SdeConfig config;
  config.diffusion = DiffusionForm::constant;
  config.diffusion_norm = 0.0;
  config.last_step_size = 0.1;
  auto gen = at::detail::createCPUGenerator(0);
  const auto x0 = torch::randn({4, 3}, torch::kDouble);
  const std::vector<double> grid = {0.0, 0.5};
  const auto t_half = torch::full({4}, 0.5, torch::kDouble);
  const auto x_half = x0 + 0.5 * gaussian_velocity(x0, torch::zeros({4}, torch::kDouble));
  auto run = [&](LastStep step) {
    config.last_step = step;
    return sample_sde(gaussian_velocity, PredictionType::velocity, Path(), x0, grid, config, gen);
  };
  auto result = run(LastStep::none);
  CHECK(result.nfe == 1);
  CHECK(torch::allclose(result.x, x_half));
  result = run(LastStep::mean);  // w = 0: the drift is the velocity
  CHECK(result.nfe == 2);
  CHECK(torch::allclose(result.x, x_half + 0.1 * gaussian_velocity(x_half, t_half)));
  result = run(LastStep::euler);
  CHECK(torch::allclose(result.x, x_half + 0.1 * gaussian_velocity(x_half, t_half)));
  // Tweedie: x / alpha + sigma^2 / alpha score = E[x_data | x_t] = m + t s^2 / V (x - t m).
  result = run(LastStep::tweedie);
  const double v = 0.25 * kStd * kStd + 0.25;
  CHECK(torch::allclose(result.x, kMean + 0.5 * kStd * kStd / v * (x_half - 0.5 * kMean)));

  // Mean with diffusion: drift v + w score, no noise.
  config.diffusion = DiffusionForm::sigma;
  config.diffusion_norm = 1.0;
  config.last_step = LastStep::mean;
  const auto x = sample_sde(gaussian_velocity, PredictionType::velocity, Path(), x0, {0.5, 0.9}, config, gen);
  // Can't predict the noisy first step, but the NFE and step count are exact.
  CHECK(x.nfe == count_sde_nfe(SdeSolver::euler_maruyama, LastStep::mean, 2));
  CHECK(x.steps == 2);
}

TEST_CASE("SDE NFE counts and names", "[unit][sde]") {
  CHECK(count_sde_nfe(SdeSolver::euler_maruyama, LastStep::mean, 250) == 250);
  CHECK(count_sde_nfe(SdeSolver::euler_maruyama, LastStep::none, 250) == 249);
  CHECK(count_sde_nfe(SdeSolver::heun, LastStep::tweedie, 250) == 499);
  CHECK(parse_last_step("Mean") == LastStep::mean);
  CHECK(parse_last_step("None") == LastStep::none);
  CHECK(parse_sde_solver("Euler") == SdeSolver::euler_maruyama);
  CHECK_THROWS_WITH(parse_last_step("median"), Catch::Contains("valid: none, mean"));
}
