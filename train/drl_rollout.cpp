#include "train/drl_rollout.h"

#include "core/error.h"
#include "core/rng.h"
#include "samplers/model_fn.h"

namespace fluxion::train {

void RolloutOptions::validate() const {
  FLUXION_CHECK(steps >= 2, "--rollout-steps must be at least 2, got ", steps);
  FLUXION_CHECK(noise_level > 0.0, "--noise-level must be positive, got ", noise_level);
  FLUXION_CHECK(sde_window >= 0 && sde_window <= steps, "--sde-window must be in 0..", steps,
                " (--rollout-steps), got ", sde_window);
  FLUXION_CHECK(window_begin >= 0 && window_begin + sde_window <= steps, "SDE window ", window_begin, "..",
                window_begin + sde_window, " does not fit ", steps, " steps");
}

int64_t draw_window_begin(const RolloutOptions& options, at::Generator& gen) {
  if (options.sde_window == 0) return 0;
  const int64_t last = std::max<int64_t>(0, options.steps / 2 - options.sde_window);
  return core::randint(last + 1, {1}, gen).item<int64_t>();
}

double grid_time(int64_t k, int64_t steps) { return static_cast<double>(k) / static_cast<double>(steps); }

SdeStep grid_sde_step(const torch::Tensor& x, const torch::Tensor& v, int64_t k, const RolloutOptions& options) {
  return flow_sde_step(x, v, grid_time(k, options.steps), grid_time(k + 1, options.steps), options.noise_level,
                       grid_time(1, options.steps));
}

Trajectory rollout(const VelocityFn& policy, const torch::Tensor& labels, const torch::Tensor& z, at::Generator& gen,
                   const RolloutOptions& options, const VelocityFn* base) {
  options.validate();
  FLUXION_CHECK(z.dim() >= 2 && labels.dim() == 1 && labels.size(0) == z.size(0),
                "rollout: one label per initial noise row needed, got ", labels.sizes(), " for ", z.sizes());
  torch::NoGradGuard no_grad;
  Trajectory out;
  out.labels = labels;
  out.states.push_back(z.to(torch::kFloat));
  std::vector<torch::Tensor> log_probs, kls;
  for (int64_t k = 0; k < options.steps; ++k) {
    const auto& x = out.states.back();
    const double s = grid_time(k, options.steps), ds = grid_time(k + 1, options.steps) - s;
    auto v = policy(x, samplers::time_like(s, x), labels).to(torch::kFloat);
    if (!options.stochastic(k)) {
      out.states.push_back(x + v * ds);  // Euler ODE step
      continue;
    }
    const auto step = grid_sde_step(x, v, k, options);
    auto noise = core::randn(x.sizes(), gen).to(x.device());
    auto next = step.mean + step.std * noise;  // (B, ...) ~ N(mean, std^2)
    log_probs.push_back(sde_log_prob(next, step));
    if (base) {
      const auto base_step =
          grid_sde_step(x, (*base)(x, samplers::time_like(s, x), labels).to(torch::kFloat), k, options);
      kls.push_back((step.mean - base_step.mean).pow(2).flatten(1).sum(1) / (2.0 * step.std * step.std));  // (B)
    }
    out.sde_steps.push_back(k);
    out.states.push_back(next);
  }
  out.log_probs = log_probs.empty() ? torch::zeros({z.size(0), 0}) : torch::stack(log_probs, 1);  // (B, n_sde)
  if (base) out.step_kls = kls.empty() ? torch::zeros({z.size(0), 0}) : torch::stack(kls, 1);     // (B, n_sde)
  return out;
}

torch::Tensor group_labels(int64_t groups, int64_t group_size, int64_t num_classes, int64_t first_group) {
  FLUXION_CHECK(groups > 0 && group_size > 0, "rollouts need positive --groups and --group-size");
  auto ids = torch::arange(first_group, first_group + groups, torch::kLong);
  ids = num_classes > 0 ? ids.remainder(num_classes) : torch::full({groups}, num_classes, torch::kLong);
  return ids.repeat_interleave(group_size);  // (groups) -> (groups * G), group-major
}

}  // namespace fluxion::train
