// Adaptive Dormand-Prince 5(4) with the step-size controller of torchdiffeq, which SiT samples
// with.
#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "samplers/ode.h"

namespace fluxion::samplers {
namespace {

// Butcher tableau (Dormand & Prince 1980); the 7th stage is the 5th-order solution (FSAL).
constexpr double kC[7] = {0.0, 1.0 / 5, 3.0 / 10, 4.0 / 5, 8.0 / 9, 1.0, 1.0};
constexpr double kA[7][6] = {{},
                             {1.0 / 5},
                             {3.0 / 40, 9.0 / 40},
                             {44.0 / 45, -56.0 / 15, 32.0 / 9},
                             {19372.0 / 6561, -25360.0 / 2187, 64448.0 / 6561, -212.0 / 729},
                             {9017.0 / 3168, -355.0 / 33, 46732.0 / 5247, 49.0 / 176, -5103.0 / 18656},
                             {35.0 / 384, 0.0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84}};
// b5 - b4: the embedded error estimate.
constexpr double kErr[7] = {35.0 / 384 - 5179.0 / 57600,
                            0.0,
                            500.0 / 1113 - 7571.0 / 16695,
                            125.0 / 192 - 393.0 / 640,
                            -2187.0 / 6784 + 92097.0 / 339200,
                            11.0 / 84 - 187.0 / 2100,
                            -1.0 / 40};

constexpr double kSafety = 0.9;
constexpr double kMaxGrowth = 10.0;
constexpr double kMaxShrink = 0.2;

double rms(const torch::Tensor& t) { return std::sqrt(t.pow(2).mean().item<double>()); }

struct CountingField {
  const Field& velocity;
  int64_t nfe = 0;
  torch::Tensor operator()(const torch::Tensor& x, double t) {
    ++nfe;
    return velocity(x, time_like(t, x));
  }
};

// Hairer, Norsett & Wanner's starting step (as torchdiffeq's _select_initial_step, order 4).
double initial_step(CountingField& f, const torch::Tensor& x0, const torch::Tensor& f0, double t0, double atol,
                    double rtol) {
  const auto scale = atol + x0.abs() * rtol;
  const double d0 = rms(x0 / scale), d1 = rms(f0 / scale);
  const double h0 = (d0 < 1e-5 || d1 < 1e-5) ? 1e-6 : 0.01 * d0 / d1;
  const auto f1 = f(x0 + h0 * f0, t0 + h0);
  const double d2 = rms((f1 - f0) / scale) / h0;
  const double h1 =
      (d1 <= 1e-15 && d2 <= 1e-15) ? std::max(1e-6, h0 * 1e-3) : std::pow(0.01 / std::max(d1, d2), 1.0 / 5.0);
  return std::min(100.0 * h0, h1);
}

}  // namespace

OdeResult dopri5(const Field& velocity, torch::Tensor x, double t0, double t1, const Dopri5Options& options) {
  FLUXION_CHECK(t1 > t0, "dopri5: t1 = ", t1, " must exceed t0 = ", t0);
  FLUXION_CHECK(options.atol > 0 && options.rtol >= 0, "dopri5: atol ", options.atol, " must be > 0 and rtol ",
                options.rtol, " >= 0");
  std::vector<double> stops = options.output_times;
  for (size_t i = 0; i < stops.size(); ++i)
    FLUXION_CHECK(stops[i] > t0 && stops[i] <= t1 && (i == 0 || stops[i] > stops[i - 1]), "dopri5: output time ",
                  stops[i], " must increase inside (", t0, ", ", t1, "]");
  if (stops.empty() || stops.back() < t1) stops.push_back(t1);
  const size_t recorded = options.output_times.size();

  CountingField f{velocity};
  OdeResult result;
  double t = t0;
  auto k1 = f(x, t);
  double h = options.first_step > 0 ? options.first_step : initial_step(f, x, k1, t0, options.atol, options.rtol);
  size_t next_stop = 0;
  std::vector<torch::Tensor> k(7);
  while (next_stop < stops.size()) {
    FLUXION_CHECK(result.accepted_steps + result.rejected_steps < options.max_steps,
                  "dopri5: no convergence within max_steps ", options.max_steps, " (t = ", t, ", step ", h, ")");
    const double target = stops[next_stop];
    const bool clipped = t + h >= target;
    const double step = clipped ? target - t : h;
    k[0] = k1;
    torch::Tensor stage;
    for (int s = 1; s < 7; ++s) {
      stage = x;
      for (int j = 0; j < s; ++j)
        if (kA[s][j] != 0.0) stage = stage + (step * kA[s][j]) * k[j];
      k[s] = f(stage, t + kC[s] * step);
    }
    // The last stage point is the 5th-order solution; its slope is the next step's first (FSAL).
    const auto& x_new = stage;
    auto error = (step * kErr[0]) * k[0];
    for (int j = 1; j < 7; ++j)
      if (kErr[j] != 0.0) error = error + (step * kErr[j]) * k[j];
    const auto tolerance = options.atol + options.rtol * torch::max(x.abs(), x_new.abs());
    const double ratio = rms(error / tolerance);
    FLUXION_CHECK(std::isfinite(ratio), "dopri5: the error estimate is not finite at t = ", t, " (step ", step, ")");
    const bool accept = ratio <= 1.0;
    // torchdiffeq's controller: never shrink an accepted step, never grow a rejected one.
    const double factor =
        ratio == 0.0 ? kMaxGrowth
                     : std::min(kMaxGrowth, std::max(kSafety * std::pow(ratio, -0.2), accept ? 1.0 : kMaxShrink));
    if (accept) {
      ++result.accepted_steps;
      t = clipped ? target : t + step;
      x = x_new;
      k1 = k[6];
      if (clipped) {
        if (next_stop < recorded) result.outputs.push_back(x);
        ++next_stop;
      }
    } else {
      ++result.rejected_steps;
    }
    // A step clipped to an output time keeps the larger step proposed before the clip.
    h = (accept && clipped) ? std::max(h, step * factor) : step * factor;
  }
  result.x = std::move(x);
  result.nfe = f.nfe;
  return result;
}

}  // namespace fluxion::samplers
