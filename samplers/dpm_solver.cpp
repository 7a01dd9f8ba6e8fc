// DPM-Solver++(2M) in flow-matching form; the derivation is in ode.h.
#include <cmath>
#include <limits>

#include "core/error.h"
#include "samplers/ode.h"

namespace fluxion::samplers {
namespace {

struct Coefficients {
  double alpha;
  double sigma;
};

Coefficients coefficients_at(const Path& path, double t) {
  const auto tt = torch::tensor(t, torch::kDouble);
  return {path.alpha(tt).item<double>(), path.sigma(tt).item<double>()};
}

}  // namespace

OdeResult dpm_solver_pp_2m(const Field& data, torch::Tensor x, const std::vector<double>& grid, const Path& path) {
  FLUXION_CHECK(grid.size() >= 2, "dpm++2m: the time grid needs at least 2 times, got ", grid.size());
  OdeResult result;
  torch::Tensor previous_data;
  double previous_h = std::numeric_limits<double>::infinity();
  for (size_t i = 0; i + 1 < grid.size(); ++i) {
    const double u = grid[i], t = grid[i + 1];
    FLUXION_CHECK(t > u, "dpm++2m: the time grid must increase, but t[", i + 1, "] = ", t, " <= t[", i, "] = ", u);
    const auto from = coefficients_at(path, u), to = coefficients_at(path, t);
    FLUXION_CHECK(from.sigma > 0 && to.alpha > 0, "dpm++2m: path ", to_string(path.type()), " has sigma(", u,
                  ") = ", from.sigma, " or alpha(", t, ") = ", to.alpha, " at zero, outside the solver's range");
    const auto data_now = data(x, time_like(u, x));
    ++result.nfe;
    // e^{-h} = (a_u s_t) / (s_u a_t), finite even where lambda is infinite.
    const double exp_neg_h = (from.alpha * to.sigma) / (from.sigma * to.alpha);
    const double h = std::log(to.alpha * from.sigma) - std::log(to.sigma * from.alpha);
    torch::Tensor d = data_now;
    if (previous_data.defined() && std::isfinite(previous_h) && std::isfinite(h)) {
      const double r = previous_h / h;
      d = (1.0 + 0.5 / r) * data_now - (0.5 / r) * previous_data;
    }
    x = (to.sigma / from.sigma) * x + (to.alpha * (1.0 - exp_neg_h)) * d;
    previous_data = data_now;
    previous_h = h;
  }
  result.x = std::move(x);
  result.accepted_steps = static_cast<int64_t>(grid.size()) - 1;
  return result;
}

}  // namespace fluxion::samplers
