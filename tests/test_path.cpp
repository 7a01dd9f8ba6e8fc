#include <catch2/catch.hpp>
#include <cmath>

#include "core/error.h"
#include "samplers/path.h"

using namespace fluxion;
using namespace fluxion::samplers;

namespace {
const double kPi = 3.14159265358979323846;
torch::Tensor times() { return torch::tensor({0.05, 0.2, 0.5, 0.8, 0.95}, torch::kDouble); }
}  // namespace

TEST_CASE("path coefficients follow SiT's formulas", "[unit][path]") {
  const auto t = times();
  const Path linear(PathType::linear), gvp(PathType::gvp), vp(PathType::vp);
  CHECK(torch::allclose(linear.alpha(t), t));
  CHECK(torch::allclose(linear.sigma(t), 1 - t));
  CHECK(torch::allclose(gvp.alpha(t), torch::sin(t * kPi / 2)));
  CHECK(torch::allclose(gvp.sigma(t), torch::cos(t * kPi / 2)));
  const auto log_alpha = -0.25 * (1 - t).pow(2) * (20.0 - 0.1) - 0.5 * (1 - t) * 0.1;
  CHECK(torch::allclose(vp.alpha(t), torch::exp(log_alpha)));
  CHECK(torch::allclose(vp.sigma(t), torch::sqrt(1 - torch::exp(2 * log_alpha))));
  // Data at t = 1, noise at t = 0 (VP's alpha(0) is tiny but not zero).
  const auto ends = torch::tensor({0.0, 1.0}, torch::kDouble);
  for (const auto& path : {linear, gvp, vp}) {
    CHECK(path.alpha(ends)[1].item<double>() == Approx(1.0));
    CHECK(path.sigma(ends)[1].item<double>() == Approx(0.0).margin(1e-12));
    CHECK(path.alpha(ends)[0].item<double>() < 1e-2);
  }
}

TEST_CASE("path derivatives match finite differences", "[unit][path]") {
  const auto t = times();
  const double h = 1e-6;
  for (auto type : {PathType::linear, PathType::gvp, PathType::vp}) {
    const Path path(type);
    INFO(to_string(type));
    const auto fd_alpha = (path.alpha(t + h) - path.alpha(t - h)) / (2 * h);
    const auto fd_sigma = (path.sigma(t + h) - path.sigma(t - h)) / (2 * h);
    CHECK(torch::allclose(path.d_alpha(t), fd_alpha, 1e-6, 1e-6));
    CHECK(torch::allclose(path.d_sigma(t), fd_sigma, 1e-6, 1e-6));
    CHECK(torch::allclose(path.d_alpha_alpha_ratio(t), path.d_alpha(t) / path.alpha(t)));
  }
}

TEST_CASE("interpolate and target velocity broadcast t over the batch", "[unit][path]") {
  const auto noise = torch::randn({3, 2, 4, 4}, torch::kDouble);
  const auto data = torch::randn({3, 2, 4, 4}, torch::kDouble);
  const auto t = torch::tensor({0.1, 0.5, 0.9}, torch::kDouble);
  const Path path(PathType::linear);
  const auto x_t = path.interpolate(t, noise, data);
  for (int i = 0; i < 3; ++i) {
    const double ti = t[i].item<double>();
    CHECK(torch::allclose(x_t[i], ti * data[i] + (1 - ti) * noise[i]));
  }
  CHECK(torch::allclose(path.target_velocity(t, noise, data), data - noise));
  CHECK_THROWS_AS(path.interpolate(torch::ones({2}, torch::kDouble), noise, data), Error);
}

TEST_CASE("compute_drift gives the probability-flow velocity from the score", "[unit][path]") {
  // A single data point x1: x_t = a x1 + s x0 has score -(x - a x1)/s^2 and velocity
  // da x1 + ds (x - a x1)/s.
  const auto x1 = torch::randn({5, 3}, torch::kDouble);
  const auto x = torch::randn({5, 3}, torch::kDouble);
  const auto t = times();
  for (auto type : {PathType::linear, PathType::gvp, PathType::vp}) {
    const Path path(type);
    INFO(to_string(type));
    const auto tb = t.view({5, 1});
    const auto a = path.alpha(tb), s = path.sigma(tb);
    const auto score = -(x - a * x1) / (s * s);
    const auto velocity = path.d_alpha(tb) * x1 + path.d_sigma(tb) * (x - a * x1) / s;
    const auto drift = path.compute_drift(x, t);
    CHECK(torch::allclose(-drift.mean + drift.var * score, velocity, 1e-9, 1e-9));
  }
  // VP: SiT's override beta/2 equals the generic form.
  const Path vp(PathType::vp);
  const auto beta = 0.1 + (1 - t) * (20.0 - 0.1);
  CHECK(torch::allclose(vp.compute_drift(x, t).var.view({5}), beta / 2));
}

TEST_CASE("diffusion forms", "[unit][path]") {
  const auto x = torch::zeros({5, 2}, torch::kDouble);
  const auto t = times();
  const Path path(PathType::linear);
  const double norm = 0.7;
  auto w = [&](const std::string& form) {
    return path.compute_diffusion(x, t, parse_diffusion_form(form), norm).view({5});
  };
  CHECK(torch::allclose(w("constant"), torch::full({5}, norm, torch::kDouble)));
  CHECK(torch::allclose(w("SBDM"), norm * (1 - t) / t));
  CHECK(torch::allclose(w("sigma"), norm * (1 - t)));
  CHECK(torch::allclose(w("linear"), norm * (1 - t)));
  CHECK(torch::allclose(w("decreasing"), 0.25 * (norm * torch::cos(kPi * t) + 1).pow(2)));
  CHECK(torch::allclose(w("increasing-decreasing"), norm * torch::sin(kPi * t).pow(2)));
  CHECK(parse_diffusion_form("inccreasing-decreasing") == DiffusionForm::increasing_decreasing);
  CHECK_THROWS_WITH(parse_diffusion_form("cosine"), Catch::Contains("valid: constant, SBDM"));
  CHECK(parse_path_type("Linear") == PathType::linear);
  CHECK_THROWS_WITH(parse_path_type("cosine"), Catch::Contains("valid: linear, gvp, vp"));
}
