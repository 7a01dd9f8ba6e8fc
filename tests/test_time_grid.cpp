#include <catch2/catch.hpp>

#include "core/error.h"
#include "samplers/time_grid.h"

using namespace fluxion;
using namespace fluxion::samplers;

TEST_CASE("shift_time is the literal map s t / (1 + (s - 1) t)", "[unit][time_grid]") {
  for (double s : {0.5, 1.0, 3.0, 6.93}) {
    for (double t : {0.0, 0.1, 0.5, 0.9, 1.0}) {
      CHECK(shift_time(t, s) == Approx(s * t / (1 + (s - 1) * t)).epsilon(1e-14));
    }
  }
  const auto t = torch::linspace(0, 1, 11, torch::kDouble);
  const auto shifted = shift_time(t, 3.0);
  for (int i = 0; i < 11; ++i) CHECK(shifted[i].item<double>() == Approx(shift_time(t[i].item<double>(), 3.0)));
}

TEST_CASE("shift_noise_level shifts 1 - t, the noise level of RAE's convention", "[unit][time_grid]") {
  for (double t : {0.0, 0.2, 0.7, 1.0}) {
    CHECK(1.0 - shift_noise_level(t, 4.0) == Approx(shift_time(1.0 - t, 4.0)).margin(1e-15));
    // Same map on our t as shifting by 1/s: t' = t / (s - (s - 1) t).
    CHECK(shift_noise_level(t, 4.0) == Approx(t / (4.0 - 3.0 * t)).margin(1e-15));
    CHECK(shift_noise_level(t, 1.0) == Approx(t).margin(1e-15));
  }
  // s > 1 keeps t nearer to noise: more of the grid is spent there.
  CHECK(shift_noise_level(0.5, 3.0) < 0.5);
}

TEST_CASE("time grids have exact endpoints and increase", "[unit][time_grid]") {
  TimeGridConfig config;
  config.points = 11;
  auto grid = make_time_grid(config);
  REQUIRE(grid.size() == 11);
  CHECK(grid.front() == 0.0);
  CHECK(grid.back() == 1.0);
  for (int i = 0; i < 11; ++i) CHECK(grid[i] == Approx(i / 10.0).margin(1e-15));

  config.start_eps = 1e-3;
  config.end_eps = 0.04;
  config.shift = 3.0;
  grid = make_time_grid(config);
  CHECK(grid.front() == 1e-3);
  CHECK(grid.back() == 1.0 - 0.04);
  for (size_t i = 1; i < grid.size(); ++i) CHECK(grid[i] > grid[i - 1]);
  // Interior points: the shifted uniform grid mapped onto [t0, t1].
  const double u = shift_noise_level(0.3, 3.0);
  CHECK(grid[3] == Approx(1e-3 + (0.96 - 1e-3) * u).epsilon(1e-13));
  // Shift > 1 makes the first steps (near noise) shorter than the last ones.
  CHECK(grid[1] - grid[0] < grid[10] - grid[9]);

  const auto uniform = uniform_grid(5, 0.2, 0.6);
  REQUIRE(uniform.size() == 5);
  for (int i = 0; i < 5; ++i) CHECK(uniform[i] == Approx(0.2 + 0.1 * i).margin(1e-15));
  CHECK(uniform.back() == 0.6);
}

TEST_CASE("time grids reject bad settings with one-line errors", "[unit][time_grid]") {
  TimeGridConfig config;
  config.points = 1;
  CHECK_THROWS_AS(make_time_grid(config), Error);
  config.points = 5;
  config.start_eps = 0.6;
  config.end_eps = 0.5;
  CHECK_THROWS_WITH(make_time_grid(config), Catch::Contains("start_eps 0.6"));
  config.start_eps = 0;
  config.end_eps = 0;
  config.shift = -1;
  CHECK_THROWS_WITH(make_time_grid(config), Catch::Contains("shift must be > 0"));
}

TEST_CASE("SiT's eps defaults and sampling intervals", "[unit][time_grid]") {
  CHECK(sit_default_eps(PathType::linear, PredictionType::velocity).sample == 0.0);
  CHECK(sit_default_eps(PathType::gvp, PredictionType::noise).train == 1e-3);
  CHECK(sit_default_eps(PathType::linear, PredictionType::score).sample == 1e-3);
  CHECK(sit_default_eps(PathType::vp, PredictionType::velocity).train == 1e-5);
  CHECK(sit_default_eps(PathType::vp, PredictionType::velocity).sample == 1e-3);

  // ODE, velocity, linear: the whole of [0, 1].
  auto interval = sit_sample_interval(PathType::linear, PredictionType::velocity, false);
  CHECK(interval.t0 == 0.0);
  CHECK(interval.t1 == 1.0);
  // SDE with SiT's CLI defaults (sigma form, mean last step of 0.04).
  interval = sit_sample_interval(PathType::linear, PredictionType::velocity, true, DiffusionForm::sigma, 0.04);
  CHECK(interval.t0 == 0.0);
  CHECK(interval.t1 == Approx(0.96));
  // Noise prediction: eps at both ends of the ODE.
  interval = sit_sample_interval(PathType::gvp, PredictionType::noise, false);
  CHECK(interval.t0 == 1e-3);
  CHECK(interval.t1 == Approx(1 - 1e-3));
  // VP: t0 stays 0, t1 = 1 - sample eps.
  interval = sit_sample_interval(PathType::vp, PredictionType::velocity, false);
  CHECK(interval.t0 == 0.0);
  CHECK(interval.t1 == Approx(1 - 1e-3));
}
