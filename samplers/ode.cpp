#include "samplers/ode.h"

#include "core/error.h"

namespace fluxion::samplers {
namespace {

void check_grid(const std::vector<double>& grid, const char* solver) {
  FLUXION_CHECK(grid.size() >= 2, solver, ": the time grid needs at least 2 times, got ", grid.size());
  for (size_t i = 1; i < grid.size(); ++i)
    FLUXION_CHECK(grid[i] > grid[i - 1], solver, ": the time grid must increase, but t[", i, "] = ", grid[i], " <= t[",
                  i - 1, "] = ", grid[i - 1]);
}

// Calls the velocity at a scalar time and counts the evaluation.
struct CountingField {
  const Field& velocity;
  int64_t nfe = 0;
  torch::Tensor operator()(const torch::Tensor& x, double t) {
    ++nfe;
    return velocity(x, time_like(t, x));
  }
};

OdeResult finish(torch::Tensor x, const CountingField& field, size_t grid_size) {
  OdeResult result;
  result.x = std::move(x);
  result.nfe = field.nfe;
  result.accepted_steps = static_cast<int64_t>(grid_size) - 1;
  return result;
}

}  // namespace

OdeSolver parse_ode_solver(const std::string& name) {
  if (name == "euler") return OdeSolver::euler;
  if (name == "heun") return OdeSolver::heun;
  if (name == "midpoint") return OdeSolver::midpoint;
  if (name == "rk4") return OdeSolver::rk4;
  if (name == "dopri5") return OdeSolver::dopri5;
  if (name == "dpm++2m" || name == "dpm-solver++2m" || name == "dpmpp2m") return OdeSolver::dpm_pp_2m;
  fail("ODE solver '", name, "' is unknown; valid: euler, heun, midpoint, rk4, dopri5, dpm++2m");
}

std::string to_string(OdeSolver solver) {
  switch (solver) {
    case OdeSolver::euler: return "euler";
    case OdeSolver::heun: return "heun";
    case OdeSolver::midpoint: return "midpoint";
    case OdeSolver::rk4: return "rk4";
    case OdeSolver::dopri5: return "dopri5";
    case OdeSolver::dpm_pp_2m: return "dpm++2m";
  }
  return "?";
}

OdeResult euler(const Field& velocity, torch::Tensor x, const std::vector<double>& grid) {
  check_grid(grid, "euler");
  CountingField field{velocity};
  for (size_t i = 0; i + 1 < grid.size(); ++i) {
    const double h = grid[i + 1] - grid[i];
    x = x + h * field(x, grid[i]);
  }
  return finish(std::move(x), field, grid.size());
}

OdeResult heun(const Field& velocity, torch::Tensor x, const std::vector<double>& grid, bool last_step_euler) {
  check_grid(grid, "heun");
  CountingField field{velocity};
  const size_t steps = grid.size() - 1;
  for (size_t i = 0; i < steps; ++i) {
    const double t = grid[i], h = grid[i + 1] - grid[i];
    const auto v = field(x, t);
    const auto x_euler = x + h * v;
    if (last_step_euler && i + 1 == steps) {
      x = x_euler;  // JiT: the last step skips the corrector (and the model at t = 1)
    } else {
      x = x + (0.5 * h) * (v + field(x_euler, grid[i + 1]));
    }
  }
  return finish(std::move(x), field, grid.size());
}

OdeResult midpoint(const Field& velocity, torch::Tensor x, const std::vector<double>& grid) {
  check_grid(grid, "midpoint");
  CountingField field{velocity};
  for (size_t i = 0; i + 1 < grid.size(); ++i) {
    const double t = grid[i], h = grid[i + 1] - grid[i];
    const auto x_half = x + (0.5 * h) * field(x, t);
    x = x + h * field(x_half, t + 0.5 * h);
  }
  return finish(std::move(x), field, grid.size());
}

OdeResult rk4(const Field& velocity, torch::Tensor x, const std::vector<double>& grid) {
  check_grid(grid, "rk4");
  CountingField field{velocity};
  for (size_t i = 0; i + 1 < grid.size(); ++i) {
    const double t = grid[i], h = grid[i + 1] - grid[i];
    const auto k1 = field(x, t);
    const auto k2 = field(x + (0.5 * h) * k1, t + 0.5 * h);
    const auto k3 = field(x + (0.5 * h) * k2, t + 0.5 * h);
    const auto k4 = field(x + h * k3, grid[i + 1]);
    x = x + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4);
  }
  return finish(std::move(x), field, grid.size());
}

int64_t count_nfe(OdeSolver solver, int64_t steps, bool heun_last_step_euler) {
  FLUXION_CHECK(steps >= 1, "count_nfe: steps must be >= 1, got ", steps);
  switch (solver) {
    case OdeSolver::euler: return steps;
    case OdeSolver::heun: return heun_last_step_euler ? 2 * steps - 1 : 2 * steps;
    case OdeSolver::midpoint: return 2 * steps;
    case OdeSolver::rk4: return 4 * steps;
    case OdeSolver::dopri5: return -1;
    case OdeSolver::dpm_pp_2m: return steps;
  }
  return -1;
}

}  // namespace fluxion::samplers
