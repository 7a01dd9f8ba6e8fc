#include "train/drl_policy.h"

#include <cmath>

#include "core/error.h"

namespace fluxion::train {

SdeStep flow_sde_step(const torch::Tensor& x, const torch::Tensor& v, double s, double s_next, double noise_level,
                      double s_floor) {
  FLUXION_CHECK(s_next > s && s >= 0.0 && s_next <= 1.0, "SDE step: need 0 <= s < s_next <= 1, got ", s, " -> ",
                s_next);
  FLUXION_CHECK(s < 1.0, "SDE step: no stochastic step can start at the data end s = 1");
  FLUXION_CHECK(noise_level > 0.0 && s_floor > 0.0, "SDE step: noise level and s_floor must be positive");
  const double ds = s_next - s;
  const double s_eff = s > 0.0 ? s : s_floor;
  const double sigma = noise_level * std::sqrt((1.0 - s_eff) / s_eff);
  const double sigma2 = sigma * sigma;
  SdeStep step;
  step.sigma = sigma;
  step.std = sigma * std::sqrt(ds);
  step.mean = x * (1.0 - sigma2 * ds / (2.0 * (1.0 - s))) + v * ((1.0 + sigma2 * s / (2.0 * (1.0 - s))) * ds);
  return step;
}

torch::Tensor sde_log_prob(const torch::Tensor& next, const SdeStep& step) {
  FLUXION_CHECK(next.sizes() == step.mean.sizes(), "SDE log-probability: sample ", next.sizes(), " vs mean ",
                step.mean.sizes());
  auto squared = (next.to(torch::kFloat) - step.mean.to(torch::kFloat)).pow(2).flatten(1).mean(1);  // (B)
  return -squared / (2.0 * step.std * step.std) - std::log(step.std) - 0.5 * std::log(2.0 * M_PI);
}

AdvantageNorm parse_advantage_norm(const std::string& name) {
  if (name == "none") return AdvantageNorm::none;
  if (name == "center") return AdvantageNorm::center;
  if (name == "group") return AdvantageNorm::group;
  if (name == "global") return AdvantageNorm::global;
  if (name == "gdpo") return AdvantageNorm::gdpo;
  fail("unknown advantage normalisation '", name, "' (none | center | group | global | gdpo)");
}

namespace {
// (B) -> per-sample mean and std of its group (population std, as torch.std(unbiased=False))
std::pair<torch::Tensor, torch::Tensor> group_moments(const torch::Tensor& r, const torch::Tensor& groups) {
  auto mean = torch::empty_like(r), std = torch::empty_like(r);
  auto ids = std::get<0>(at::_unique(groups));
  for (int64_t i = 0; i < ids.size(0); ++i) {
    auto mask = groups == ids[i];
    auto members = r.masked_select(mask);
    mean.masked_fill_(mask, members.mean());
    std.masked_fill_(mask, members.std(/*unbiased=*/false));
  }
  return {mean, std};
}

torch::Tensor group_normalised(const torch::Tensor& r, const torch::Tensor& groups, bool global_std) {
  auto [mean, std] = group_moments(r, groups);
  auto scale = global_std ? r.std(/*unbiased=*/false).expand_as(r) : std;
  return (r - mean) / (scale + 1e-4);
}
}  // namespace

torch::Tensor advantages(const torch::Tensor& rewards, const torch::Tensor& groups, AdvantageNorm norm, double clip) {
  FLUXION_CHECK(rewards.dim() == 1 || rewards.dim() == 2, "advantages: rewards must be (B) or (B, R), got ",
                rewards.sizes());
  FLUXION_CHECK(groups.dim() == 1 && groups.size(0) == rewards.size(0), "advantages: one group id per sample");
  const auto group_ids = groups.to(rewards.device());  // the labels may come from the host, rewards from a GPU
  auto r = rewards.to(torch::kDouble);
  if (r.dim() == 1) r = r.unsqueeze(1);  // (B) -> (B, 1)
  torch::Tensor a;
  switch (norm) {
    case AdvantageNorm::none: a = r.sum(1); break;
    case AdvantageNorm::center: {
      const auto total = r.sum(1);
      a = total - group_moments(total, group_ids).first;
      break;
    }
    case AdvantageNorm::group:
    case AdvantageNorm::global: a = group_normalised(r.sum(1), group_ids, norm == AdvantageNorm::global); break;
    case AdvantageNorm::gdpo: {
      a = torch::zeros({r.size(0)}, r.options());
      for (int64_t k = 0; k < r.size(1); ++k) a = a + group_normalised(r.select(1, k).contiguous(), group_ids, false);
      a = (a - a.mean()) / (a.std(/*unbiased=*/false) + 1e-4);
      break;
    }
  }
  return a.clamp(-clip, clip).to(rewards.scalar_type());
}

torch::Tensor ppo_clip_loss(const torch::Tensor& log_prob, const torch::Tensor& old_log_prob,
                            const torch::Tensor& advantage, double clip_range) {
  auto ratio = torch::exp(log_prob - old_log_prob);
  auto unclipped = -advantage * ratio;
  auto clipped = -advantage * ratio.clamp(1.0 - clip_range, 1.0 + clip_range);
  return torch::max(unclipped, clipped).mean();
}

torch::Tensor step_kl(const SdeStep& policy, const SdeStep& base) {
  auto squared = (policy.mean.to(torch::kFloat) - base.mean.to(torch::kFloat)).pow(2).flatten(1).mean(1);
  return (squared / (2.0 * policy.std * policy.std)).mean();
}

}  // namespace fluxion::train
