#include "samplers/sde.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "core/error.h"

namespace fluxion::samplers {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// One model evaluation turned into the two fields the SDE needs.
struct Fields {
  torch::Tensor velocity;
  torch::Tensor score;
};

class SdeFields {
 public:
  SdeFields(const Field& model, PredictionType type, const Path& path, const ConversionOptions& conversion,
            const SdeConfig& config)
      : model_(model), type_(type), path_(path), conversion_(conversion), config_(config) {}

  Fields evaluate(const torch::Tensor& x, double t) {
    ++nfe;
    const auto tt = time_like(t, x);
    const auto pred = model_(x, tt);
    Fields fields;
    fields.velocity = to_velocity(pred, x, tt, path_, type_, conversion_);
    fields.score =
        type_ == PredictionType::score ? pred : velocity_to(PredictionType::score, fields.velocity, x, tt, path_);
    return fields;
  }

  torch::Tensor diffusion(const torch::Tensor& x, double t) const {
    return path_.compute_diffusion(x, time_like(t, x), config_.diffusion, config_.diffusion_norm);
  }

  // v + w score. Where w vanishes (e.g. the sigma form at t = 1) the score, which may be infinite
  // there (velocity -> score divides by sigma), is left out instead of giving 0 * inf = NaN.
  torch::Tensor drift(const torch::Tensor& x, double t) {
    const auto fields = evaluate(x, t);
    const auto w = diffusion(x, t);
    if (w.abs().max().item<double>() == 0.0) return fields.velocity;
    return fields.velocity + w * fields.score;
  }

  int64_t nfe = 0;

 private:
  const Field& model_;
  PredictionType type_;
  const Path& path_;
  ConversionOptions conversion_;
  const SdeConfig& config_;
};

torch::Tensor brownian_increment(const torch::Tensor& x, double dt, at::Generator& generator) {
  // Drawn on the generator's device so that one CPU generator reproduces across devices.
  const auto noise = at::randn(x.sizes(), generator, x.options().device(generator.device()));
  return noise.to(x.device()) * std::sqrt(dt);
}

}  // namespace

SdeSolver parse_sde_solver(const std::string& name) {
  const std::string key = lower(name);
  if (key == "euler-maruyama" || key == "euler" || key == "em") return SdeSolver::euler_maruyama;
  if (key == "heun" || key == "sde-heun") return SdeSolver::heun;
  fail("SDE solver '", name, "' is unknown; valid: euler-maruyama, heun");
}

std::string to_string(SdeSolver solver) { return solver == SdeSolver::heun ? "sde-heun" : "euler-maruyama"; }

LastStep parse_last_step(const std::string& name) {
  const std::string key = lower(name);
  if (key == "none" || key.empty()) return LastStep::none;
  if (key == "mean") return LastStep::mean;
  if (key == "tweedie") return LastStep::tweedie;
  if (key == "euler") return LastStep::euler;
  fail("SDE last step '", name, "' is unknown; valid: none, mean, tweedie, euler");
}

std::string to_string(LastStep step) {
  switch (step) {
    case LastStep::none: return "none";
    case LastStep::mean: return "mean";
    case LastStep::tweedie: return "tweedie";
    case LastStep::euler: return "euler";
  }
  return "?";
}

SdeResult sample_sde(const Field& model, PredictionType type, const Path& path, torch::Tensor x,
                     const std::vector<double>& grid, const SdeConfig& config, at::Generator& generator,
                     const ConversionOptions& conversion) {
  FLUXION_CHECK(grid.size() >= 2, "sde: the time grid needs at least 2 times, got ", grid.size());
  for (size_t i = 1; i < grid.size(); ++i)
    FLUXION_CHECK(grid[i] > grid[i - 1], "sde: the time grid must increase, but t[", i, "] = ", grid[i], " <= t[",
                  i - 1, "] = ", grid[i - 1]);
  FLUXION_CHECK(config.last_step == LastStep::none || config.last_step_size >= 0,
                "sde: last_step_size must be >= 0, got ", config.last_step_size);
  SdeFields fields(model, type, path, conversion, config);
  const auto first_row = x.narrow(0, 0, 1);
  FLUXION_CHECK(torch::isfinite(fields.diffusion(first_row, grid.front())).all().item<bool>(), "sde: diffusion form ",
                to_string(config.diffusion), " is not finite at t0 = ", grid.front(), " on path ",
                to_string(path.type()), "; start later (SiT starts SBDM at 1e-3)");
  SdeResult result;
  for (size_t i = 0; i + 1 < grid.size(); ++i) {
    const double t = grid[i], dt = grid[i + 1] - grid[i];
    const auto dw = brownian_increment(x, dt, generator);
    const auto noise_scale = torch::sqrt(2.0 * fields.diffusion(x, t));
    if (config.solver == SdeSolver::euler_maruyama) {
      x = x + fields.drift(x, t) * dt + noise_scale * dw;
    } else {
      const auto x_hat = x + noise_scale * dw;
      const auto k1 = fields.drift(x_hat, t);
      const auto k2 = fields.drift(x_hat + dt * k1, t + dt);
      x = x_hat + (0.5 * dt) * (k1 + k2);
    }
    ++result.steps;
  }
  const double t1 = grid.back();
  switch (config.last_step) {
    case LastStep::none: break;
    case LastStep::mean: x = x + fields.drift(x, t1) * config.last_step_size; break;
    case LastStep::tweedie: {
      const auto tt = torch::tensor(t1, torch::kDouble);
      const double alpha = path.alpha(tt).item<double>(), sigma = path.sigma(tt).item<double>();
      x = x / alpha + (sigma * sigma / alpha) * fields.evaluate(x, t1).score;
      break;
    }
    case LastStep::euler: x = x + fields.evaluate(x, t1).velocity * config.last_step_size; break;
  }
  if (config.last_step != LastStep::none) ++result.steps;
  result.x = std::move(x);
  result.nfe = fields.nfe;
  return result;
}

int64_t count_sde_nfe(SdeSolver solver, LastStep last_step, int64_t grid_points) {
  FLUXION_CHECK(grid_points >= 2, "count_sde_nfe: grid_points must be >= 2, got ", grid_points);
  const int64_t per_step = solver == SdeSolver::heun ? 2 : 1;
  return per_step * (grid_points - 1) + (last_step == LastStep::none ? 0 : 1);
}

}  // namespace fluxion::samplers
