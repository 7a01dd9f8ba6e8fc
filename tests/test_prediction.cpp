#include <catch2/catch.hpp>

#include "core/error.h"
#include "samplers/prediction.h"

using namespace fluxion;
using namespace fluxion::samplers;

namespace {

// A batch on a known path point: data x1, noise x0, x_t and every prediction type exactly.
struct Point {
  torch::Tensor t, x1, x0, x_t, velocity, score;
};

Point make_point(const Path& path) {
  Point p;
  p.t = torch::tensor({0.05, 0.3, 0.5, 0.7, 0.95}, torch::kDouble);
  p.x1 = torch::randn({5, 3, 2, 2}, torch::kDouble);
  p.x0 = torch::randn({5, 3, 2, 2}, torch::kDouble);
  p.x_t = path.interpolate(p.t, p.x0, p.x1);
  p.velocity = path.target_velocity(p.t, p.x0, p.x1);
  p.score = -p.x0 / path.sigma(Path::expand_t_like(p.t, p.x1));
  return p;
}

torch::Tensor exact(const Point& p, PredictionType type) {
  switch (type) {
    case PredictionType::velocity: return p.velocity;
    case PredictionType::x: return p.x1;
    case PredictionType::noise: return p.x0;
    case PredictionType::score: return p.score;
  }
  return {};
}

const PredictionType kTypes[] = {PredictionType::velocity, PredictionType::x, PredictionType::noise,
                                 PredictionType::score};

}  // namespace

TEST_CASE("every prediction converts to the exact velocity on every path", "[unit][prediction]") {
  torch::manual_seed(0);
  for (auto path_type : {PathType::linear, PathType::gvp, PathType::vp}) {
    const Path path(path_type);
    const auto p = make_point(path);
    for (auto type : kTypes) {
      INFO(to_string(path_type) << " " << to_string(type));
      CHECK(torch::allclose(to_velocity(exact(p, type), p.x_t, p.t, path, type), p.velocity, 1e-9, 1e-9));
      CHECK(torch::allclose(velocity_to(type, p.velocity, p.x_t, p.t, path), exact(p, type), 1e-9, 1e-9));
    }
  }
}

TEST_CASE("conversions between all four types round-trip", "[unit][prediction]") {
  torch::manual_seed(1);
  for (auto path_type : {PathType::linear, PathType::gvp, PathType::vp}) {
    const Path path(path_type);
    const auto p = make_point(path);
    for (auto from : kTypes) {
      for (auto to : kTypes) {
        INFO(to_string(path_type) << " " << to_string(from) << " -> " << to_string(to));
        const auto there = convert(exact(p, from), from, to, p.x_t, p.t, path);
        CHECK(torch::allclose(there, exact(p, to), 1e-9, 1e-9));
        const auto back = convert(there, to, from, p.x_t, p.t, path);
        CHECK(torch::allclose(back, exact(p, from), 1e-9, 1e-9));
      }
    }
  }
}

TEST_CASE("JiT's x-prediction velocity clamps 1 - t at t_eps", "[unit][prediction]") {
  const Path path(PathType::linear);
  const auto x_hat = torch::randn({4, 3}, torch::kDouble);
  const auto z = torch::randn({4, 3}, torch::kDouble);
  const auto t = torch::tensor({0.0, 0.5, 0.96, 1.0}, torch::kDouble);
  ConversionOptions options;
  options.t_eps = 0.05;
  const auto v = to_velocity(x_hat, z, t, path, PredictionType::x, options);
  const double denominators[] = {1.0, 0.5, 0.05, 0.05};  // clamp(1 - t, 0.05)
  for (int i = 0; i < 4; ++i) CHECK(torch::allclose(v[i], (x_hat[i] - z[i]) / denominators[i], 1e-12, 1e-12));
  // Without the clamp it is (x_hat - z) / (1 - t) everywhere below t = 1.
  const auto v_plain =
      to_velocity(x_hat.narrow(0, 0, 3), z.narrow(0, 0, 3), t.narrow(0, 0, 3), path, PredictionType::x);
  CHECK(torch::allclose(v_plain[2], (x_hat[2] - z[2]) / 0.04, 1e-9, 1e-9));
}

TEST_CASE("converted_model wraps a callable", "[unit][prediction]") {
  const Path path(PathType::gvp);
  const auto x1 = torch::randn({2, 3}, torch::kDouble);
  // A model that knows the single data point x1 and predicts it.
  Field data_model = [&](const torch::Tensor&, const torch::Tensor&) { return x1; };
  const auto velocity_model = converted_model(data_model, PredictionType::x, PredictionType::velocity, path);
  const auto x0 = torch::randn({2, 3}, torch::kDouble);
  const auto t = torch::tensor({0.3, 0.6}, torch::kDouble);
  const auto x_t = path.interpolate(t, x0, x1);
  CHECK(torch::allclose(velocity_model(x_t, t), path.target_velocity(t, x0, x1), 1e-9, 1e-9));
  CHECK(parse_prediction_type("eps") == PredictionType::noise);
  CHECK_THROWS_WITH(parse_prediction_type("v-ish"), Catch::Contains("valid: velocity, x"));
}
