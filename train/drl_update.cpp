#include "train/drl_update.h"

#include "core/error.h"
#include "core/rng.h"
#include "samplers/model_fn.h"

namespace fluxion::train {

torch::Tensor kl_penalised_returns(const torch::Tensor& rewards, const Trajectory& trajectory, double beta) {
  FLUXION_CHECK(trajectory.step_kls.defined(), "KL-penalised returns need a rollout with the base's step KLs");
  const auto& kls = trajectory.step_kls;  // (B, n)
  FLUXION_CHECK(rewards.dim() == 1 && rewards.size(0) == kls.size(0), "one reward per trajectory needed");
  // KL of the steps after k: the reversed cumulative sum, shifted by one
  auto after = kls.flip({1}).cumsum(1).flip({1}) - kls;                      // (B, n)
  return rewards.to(kls.device(), kls.dtype()).unsqueeze(1) - beta * after;  // rewards may come from the host
}

UpdateStats grpo_backward(const VelocityFn& policy, const VelocityFn& base, const Trajectory& trajectory,
                          const torch::Tensor& advantages, const RolloutOptions& options, const GrpoOptions& grpo) {
  const int64_t batch = trajectory.labels.size(0);
  const int64_t n_sde = static_cast<int64_t>(trajectory.sde_steps.size());
  FLUXION_CHECK(n_sde > 0, "grpo: the trajectory has no stochastic step to train on");
  FLUXION_CHECK(
      (advantages.dim() == 1 || (advantages.dim() == 2 && advantages.size(1) == n_sde)) && advantages.size(0) == batch,
      "grpo: advantages must be (B) or (B, stochastic steps), got ", advantages.sizes());
  const int64_t micro = grpo.micro_batch > 0 ? std::min(grpo.micro_batch, batch) : batch;
  UpdateStats stats;
  double clipped = 0.0;
  for (int64_t j = 0; j < n_sde; ++j) {
    const int64_t k = trajectory.sde_steps[j];
    const double s = grid_time(k, options.steps);
    for (int64_t begin = 0; begin < batch; begin += micro) {
      const int64_t end = std::min(batch, begin + micro);
      const double share = static_cast<double>(end - begin) / static_cast<double>(batch);
      auto x = trajectory.states[k].slice(0, begin, end);
      auto next = trajectory.states[k + 1].slice(0, begin, end);
      auto y = trajectory.labels.slice(0, begin, end);
      auto adv = (advantages.dim() == 2 ? advantages.select(1, j) : advantages).slice(0, begin, end);
      adv = adv.to(x.device(), torch::kFloat);
      auto old_log_prob = trajectory.log_probs.select(1, j).slice(0, begin, end);
      SdeStep base_step;
      {
        torch::NoGradGuard no_grad;
        base_step = grid_sde_step(x, base(x, samplers::time_like(s, x), y).to(torch::kFloat), k, options);
      }
      const auto step = grid_sde_step(x, policy(x, samplers::time_like(s, x), y).to(torch::kFloat), k, options);
      auto log_prob = sde_log_prob(next, step);  // (b)
      auto policy_loss = ppo_clip_loss(log_prob, old_log_prob, adv, grpo.clip_range);
      auto kl = step_kl(step, base_step);
      auto loss = (policy_loss + grpo.beta * kl) * (share / static_cast<double>(n_sde));
      loss.backward();
      torch::NoGradGuard no_grad;
      stats.loss += loss.item<double>();
      stats.kl += kl.item<double>() * share;  // summed over the steps: the path KL per dimension
      auto ratio = torch::exp(log_prob - old_log_prob);
      clipped += ((ratio - 1.0).abs() > grpo.clip_range).to(torch::kDouble).sum().item<double>();
    }
  }
  stats.clip_fraction = clipped / static_cast<double>(batch * n_sde);
  return stats;
}

torch::Tensor reward_gradient_loss(const VelocityFn& policy, const VelocityFn& base, const RewardFn& reward,
                                   const torch::Tensor& labels, const torch::Tensor& z, at::Generator& gen,
                                   const RolloutOptions& options, double beta, UpdateStats* stats,
                                   torch::Tensor* sample) {
  options.validate();
  FLUXION_CHECK(options.sde_window == 0,
                "--algo reward-grad needs every rollout step stochastic (the KL of an ODE step is not defined); "
                "--sde-window is for --algo grpo");
  auto x = z.to(torch::kFloat);
  torch::Tensor kl_path = torch::zeros({x.size(0)}, x.options());  // (B), summed over dims and steps
  for (int64_t k = 0; k < options.steps; ++k) {
    const auto s = samplers::time_like(grid_time(k, options.steps), x);
    const auto step = grid_sde_step(x, policy(x, s, labels).to(torch::kFloat), k, options);
    // the base on the policy's state: gradients reach the state, not the base's weights
    const auto base_step = grid_sde_step(x, base(x, s, labels).to(torch::kFloat), k, options);
    kl_path = kl_path + (step.mean - base_step.mean).pow(2).flatten(1).sum(1) / (2.0 * step.std * step.std);
    x = step.mean + step.std * core::randn(x.sizes(), gen).to(x.device());  // reparameterised step
  }
  auto r = reward(x, labels).to(torch::kFloat);  // (B)
  auto loss = (-r + beta * kl_path).mean();
  if (stats) {
    torch::NoGradGuard no_grad;
    const double dims = static_cast<double>(x[0].numel());
    stats->loss = loss.item<double>();
    stats->reward = r.mean().item<double>();
    stats->kl = kl_path.mean().item<double>() / dims;
  }
  if (sample) *sample = x.detach();
  return loss;
}

}  // namespace fluxion::train
