#include "samplers/time_grid.h"

#include "core/error.h"

namespace fluxion::samplers {

double shift_time(double t, double shift) { return shift * t / (1.0 + (shift - 1.0) * t); }

torch::Tensor shift_time(const torch::Tensor& t, double shift) { return shift * t / (1.0 + (shift - 1.0) * t); }

double shift_noise_level(double t, double shift) { return 1.0 - shift_time(1.0 - t, shift); }

torch::Tensor shift_noise_level(const torch::Tensor& t, double shift) { return 1.0 - shift_time(1.0 - t, shift); }

std::vector<double> make_time_grid(const TimeGridConfig& config) {
  FLUXION_CHECK(config.points >= 2, "time grid: points must be >= 2, got ", config.points);
  FLUXION_CHECK(config.shift > 0, "time grid: shift must be > 0, got ", config.shift);
  const double t0 = config.start_eps;
  const double t1 = 1.0 - config.end_eps;
  FLUXION_CHECK(t0 >= 0 && t1 <= 1 && t0 < t1, "time grid: start_eps ", config.start_eps, " and end_eps ",
                config.end_eps, " leave no interval inside [0, 1]");
  std::vector<double> grid(config.points);
  const auto last = config.points - 1;
  for (int64_t i = 0; i <= last; ++i) {
    double u = static_cast<double>(i) / static_cast<double>(last);
    if (config.shift != 1.0) u = shift_noise_level(u, config.shift);
    grid[i] = t0 + (t1 - t0) * u;
  }
  grid.front() = t0;  // exact ends, whatever the rounding inside
  grid.back() = t1;
  return grid;
}

std::vector<double> uniform_grid(int64_t points, double t0, double t1) {
  FLUXION_CHECK(points >= 2, "time grid: points must be >= 2, got ", points);
  std::vector<double> grid(points);
  for (int64_t i = 0; i < points; ++i)
    grid[i] = t0 + (t1 - t0) * static_cast<double>(i) / static_cast<double>(points - 1);
  grid.back() = t1;
  return grid;
}

SitEps sit_default_eps(PathType path, PredictionType prediction) {
  if (path == PathType::vp) return {1e-5, 1e-3};
  if (prediction != PredictionType::velocity) return {1e-3, 1e-3};
  return {0.0, 0.0};
}

IntervalEps sit_interval_eps(PathType path, PredictionType prediction, double eps, bool sde,
                             DiffusionForm diffusion_form, double last_step_size) {
  IntervalEps ends;
  const bool take_last_step = sde && last_step_size != 0.0;
  if (path == PathType::vp) {
    ends.end = take_last_step ? last_step_size : eps;
  } else if (prediction != PredictionType::velocity || sde) {
    const bool semi_implicit_start =
        (diffusion_form == DiffusionForm::sbdm && sde) || prediction != PredictionType::velocity;
    ends.start = semi_implicit_start ? eps : 0.0;
    ends.end = take_last_step ? last_step_size : eps;
  }
  return ends;
}

TimeInterval sit_sample_interval(PathType path, PredictionType prediction, bool sde, DiffusionForm diffusion_form,
                                 double last_step_size) {
  const auto ends =
      sit_interval_eps(path, prediction, sit_default_eps(path, prediction).sample, sde, diffusion_form, last_step_size);
  return {ends.start, 1.0 - ends.end};
}

}  // namespace fluxion::samplers
