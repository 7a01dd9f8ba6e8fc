#include <catch2/catch.hpp>
#include <cmath>

#include "core/error.h"
#include "samplers/ode.h"
#include "samplers/prediction.h"
#include "samplers/time_grid.h"

using namespace fluxion;
using namespace fluxion::samplers;

namespace {

// Wraps a field and counts its calls (and the largest t it saw).
struct Counted {
  Field inner;
  int64_t calls = 0;
  double max_t = -1;
  Field fn() {
    return [this](const torch::Tensor& x, const torch::Tensor& t) {
      ++calls;
      max_t = std::max(max_t, t.max().item<double>());
      return inner(x, t);
    };
  }
};

torch::Tensor t_like(const torch::Tensor& t, const torch::Tensor& x) { return Path::expand_t_like(t, x); }

// dx/dt = x cos t: x(t) = x(0) exp(sin t).
Field nonlinear_field() {
  return [](const torch::Tensor& x, const torch::Tensor& t) { return x * torch::cos(t_like(t, x)); };
}

// Gaussian data N(m, s^2) on the linear path: the exact marginal velocity, and the exact flow
// map x(1) = m + s x(0).
const double kMean = 1.5, kStd = 0.5;
torch::Tensor gaussian_velocity(const torch::Tensor& x, const torch::Tensor& t) {
  const auto tb = t_like(t, x);
  const auto var = tb * tb * kStd * kStd + (1 - tb) * (1 - tb);
  return kMean + (tb * kStd * kStd - (1 - tb)) / var * (x - tb * kMean);
}

double error_of(const torch::Tensor& x, const torch::Tensor& exact) { return (x - exact).abs().max().item<double>(); }

OdeResult run_fixed(OdeSolver solver, const Field& velocity, const torch::Tensor& x0, int steps) {
  const auto grid = uniform_grid(steps + 1);
  switch (solver) {
    case OdeSolver::euler: return euler(velocity, x0, grid);
    case OdeSolver::heun: return heun(velocity, x0, grid);
    case OdeSolver::midpoint: return midpoint(velocity, x0, grid);
    case OdeSolver::rk4: return rk4(velocity, x0, grid);
    case OdeSolver::dpm_pp_2m:
      return dpm_solver_pp_2m(
          converted_model(velocity, PredictionType::velocity, PredictionType::x, Path(PathType::linear)), x0, grid,
          Path(PathType::linear));
    case OdeSolver::dopri5: break;
  }
  return dopri5(velocity, x0, 0.0, 1.0);
}

const OdeSolver kFixed[] = {OdeSolver::euler, OdeSolver::heun, OdeSolver::midpoint, OdeSolver::rk4,
                            OdeSolver::dpm_pp_2m};

}  // namespace

TEST_CASE("every solver integrates a constant velocity exactly", "[unit][ode]") {
  const auto x0 = torch::randn({4, 3}, torch::kDouble);
  const auto c = torch::randn({4, 3}, torch::kDouble);
  Field constant = [&](const torch::Tensor&, const torch::Tensor&) { return c; };
  for (auto solver : kFixed) {
    INFO(to_string(solver));
    CHECK(error_of(run_fixed(solver, constant, x0, 7).x, x0 + c) < 1e-12);
  }
  CHECK(error_of(dopri5(constant, x0, 0.0, 1.0).x, x0 + c) < 1e-12);
}

TEST_CASE("a velocity linear in t: exact above first order, Euler off by b/(2N)", "[unit][ode]") {
  const auto x0 = torch::randn({4, 3}, torch::kDouble);
  const auto a = torch::randn({4, 3}, torch::kDouble), b = torch::randn({4, 3}, torch::kDouble);
  Field field = [&](const torch::Tensor& x, const torch::Tensor& t) { return a + b * t_like(t, x); };
  const auto exact = x0 + a + 0.5 * b;
  for (auto solver : {OdeSolver::heun, OdeSolver::midpoint, OdeSolver::rk4}) {
    INFO(to_string(solver));
    CHECK(error_of(run_fixed(solver, field, x0, 5).x, exact) < 1e-12);
  }
  CHECK(error_of(dopri5(field, x0, 0.0, 1.0).x, exact) < 1e-12);
  // Euler's left sums: h^2 b sum_{i<N} i = b (N - 1) / (2N).
  const int n = 8;
  CHECK(error_of(run_fixed(OdeSolver::euler, field, x0, n).x, exact - b / (2.0 * n)) < 1e-12);
}

TEST_CASE("observed orders: Euler 1, Heun and midpoint 2, RK4 4", "[unit][ode]") {
  const auto x0 = torch::tensor({1.0, -0.5, 2.0}, torch::kDouble);
  const auto exact = x0 * std::exp(std::sin(1.0));
  struct Expectation {
    OdeSolver solver;
    double order;
  };
  for (auto [solver, order] : {Expectation{OdeSolver::euler, 1}, Expectation{OdeSolver::heun, 2},
                               Expectation{OdeSolver::midpoint, 2}, Expectation{OdeSolver::rk4, 4}}) {
    const double coarse = error_of(run_fixed(solver, nonlinear_field(), x0, 16).x, exact);
    const double fine = error_of(run_fixed(solver, nonlinear_field(), x0, 32).x, exact);
    const double observed = std::log2(coarse / fine);
    INFO(to_string(solver) << ": errors " << coarse << ", " << fine << ", order " << observed);
    CHECK(observed == Approx(order).margin(0.15));
    CHECK(coarse < std::pow(1.0 / 16, order) * 2.0);  // within its order's error (constant ~1)
  }
}

TEST_CASE("DPM-Solver++(2M) is second order on the Gaussian flow", "[unit][ode]") {
  // Inside (0, 1) every lambda step is finite: x(t) = t m + sqrt(V(t)) z is the exact flow.
  const auto z = torch::linspace(-2.5, 2.5, 11, torch::kDouble);
  const double t0 = 0.05, t1 = 0.95;
  auto at = [&](double t) { return t * kMean + std::sqrt(t * t * kStd * kStd + (1 - t) * (1 - t)) * z; };
  const Path path(PathType::linear);
  const auto data = converted_model(gaussian_velocity, PredictionType::velocity, PredictionType::x, path);
  auto error_with = [&](int steps) {
    return error_of(dpm_solver_pp_2m(data, at(t0), uniform_grid(steps + 1, t0, t1), path).x, at(t1));
  };
  const double coarse = error_with(32), fine = error_with(64);
  INFO("errors " << coarse << ", " << fine);
  CHECK(std::log2(coarse / fine) == Approx(2.0).margin(0.25));
  // On all of [0, 1] the end steps (infinite lambda) are first order; the error still vanishes.
  const auto full = error_of(run_fixed(OdeSolver::dpm_pp_2m, gaussian_velocity, z, 128).x, kMean + kStd * z);
  INFO("full interval, 128 steps: " << full);
  CHECK(full < 2e-3);
}

TEST_CASE("dopri5 meets its tolerance and reports its NFE", "[unit][ode]") {
  const auto x0 = torch::tensor({1.0, -0.5, 2.0}, torch::kDouble);
  const auto exact = x0 * std::exp(std::sin(1.0));
  for (double tol : {1e-4, 1e-8}) {
    Counted counted{nonlinear_field()};
    Dopri5Options options;
    options.atol = tol;
    options.rtol = tol;
    const auto result = dopri5(counted.fn(), x0, 0.0, 1.0, options);
    INFO("tol " << tol << " error " << error_of(result.x, exact) << " nfe " << result.nfe);
    CHECK(error_of(result.x, exact) < 10 * tol);
    CHECK(result.nfe == counted.calls);
    // FSAL: one first call, one for the initial step, six per attempted step.
    CHECK(result.nfe == 2 + 6 * (result.accepted_steps + result.rejected_steps));
  }
  // Tighter tolerance costs more evaluations; output times are hit exactly.
  Dopri5Options options;
  options.output_times = {0.25, 0.5, 1.0};
  const auto result = dopri5(nonlinear_field(), x0, 0.0, 1.0, options);
  REQUIRE(result.outputs.size() == 3);
  for (int i = 0; i < 3; ++i) {
    const double t = options.output_times[i];
    CHECK(error_of(result.outputs[i], x0 * std::exp(std::sin(t))) < 1e-4);
  }
  options.output_times = {0.5, 0.25};
  CHECK_THROWS_AS(dopri5(nonlinear_field(), x0, 0.0, 1.0, options), Error);
}

TEST_CASE("NFE of every fixed-step solver is exact and known in advance", "[unit][ode]") {
  const auto x0 = torch::randn({2, 3}, torch::kDouble);
  for (int steps : {1, 5}) {
    for (auto solver : kFixed) {
      Counted counted{gaussian_velocity};
      const auto result = run_fixed(solver, counted.fn(), x0, steps);
      INFO(to_string(solver) << " steps " << steps);
      CHECK(result.nfe == counted.calls);
      CHECK(result.nfe == count_nfe(solver, steps));
      CHECK(result.accepted_steps == steps);
    }
    Counted counted{gaussian_velocity};
    const auto result = heun(counted.fn(), x0, uniform_grid(steps + 1), true);
    CHECK(result.nfe == counted.calls);
    CHECK(result.nfe == 2 * steps - 1);
    CHECK(result.nfe == count_nfe(OdeSolver::heun, steps, true));
    CHECK(counted.max_t < 1.0);  // JiT's last Euler step never evaluates t = 1
  }
  CHECK(count_nfe(OdeSolver::euler, 50) == 50);
  CHECK(count_nfe(OdeSolver::heun, 50) == 100);
  CHECK(count_nfe(OdeSolver::heun, 50, true) == 99);
  CHECK(count_nfe(OdeSolver::midpoint, 50) == 100);
  CHECK(count_nfe(OdeSolver::rk4, 50) == 200);
  CHECK(count_nfe(OdeSolver::dpm_pp_2m, 50) == 50);
  CHECK(count_nfe(OdeSolver::dopri5, 50) == -1);
}

TEST_CASE("JiT's Heun: Heun steps then one Euler step", "[unit][ode]") {
  const auto x0 = torch::randn({3}, torch::kDouble);
  const auto grid = uniform_grid(5);
  const auto jit = heun(gaussian_velocity, x0, grid, true);
  // By hand: Heun on [0, 0.75], then Euler on [0.75, 1].
  auto x = heun(gaussian_velocity, x0, {0.0, 0.25, 0.5, 0.75}).x;
  x = euler(gaussian_velocity, x, {0.75, 1.0}).x;
  CHECK(error_of(jit.x, x) < 1e-14);
  CHECK_THROWS_WITH(euler(gaussian_velocity, x0, {0.0, 0.5, 0.5}), Catch::Contains("must increase"));
  CHECK_THROWS_WITH(parse_ode_solver("rk45"), Catch::Contains("valid: euler, heun"));
}
