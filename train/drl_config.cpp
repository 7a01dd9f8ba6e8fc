#include "train/drl_config.h"

#include <cmath>
#include <limits>

#include "core/error.h"
#include "train/drl_policy.h"

namespace fluxion::train {

void FinetuneConfig::validate() const {
  FLUXION_CHECK(!checkpoint.empty(), "--ckpt is required (the base checkpoint to finetune)");
  FLUXION_CHECK(algo == "grpo" || algo == "reward-grad", "--algo must be grpo or reward-grad, got '", algo, "'");
  parse_advantage_norm(adv_norm);
  FLUXION_CHECK(steps > 0 && groups > 0 && group_size > 0, "--steps, --groups and --group-size must be positive");
  FLUXION_CHECK(algo == "reward-grad" || group_size >= 2 || adv_norm == "none",
                "--group-size must be at least 2 for group advantages");
  FLUXION_CHECK(disc_samples >= 20, "--disc-samples must be at least 20, got ", disc_samples);
  FLUXION_CHECK(beta >= 0 && clip_range > 0 && adv_clip != 0,
                "--beta must be >= 0, --clip-range > 0 and --adv-clip > 0 (or < 0: by --adv-norm)");
  FLUXION_CHECK(disc_class_ratio > 0 && reward_scale > 0, "--disc-class-ratio and --reward-scale must be positive");
  FLUXION_CHECK(inner_epochs > 0 && lr > 0, "--inner-epochs and --lr must be positive");
  FLUXION_CHECK(ema_decay >= 0 && ema_decay < 1, "--ema must be in [0, 1), got ", ema_decay);
  FLUXION_CHECK(log_every > 0 && ckpt_every > 0 && sample_every > 0,
                "--log-every, --ckpt-every and --sample-every must be positive");
  FLUXION_CHECK(refresh_every >= 0 && grid_images >= 0 && micro_batch >= 0, "negative count in the options");
  FLUXION_CHECK(refresh_anchor == "policy" || refresh_anchor == "base",
                "--refresh-anchor must be policy or base, got '", refresh_anchor, "'");
  FLUXION_CHECK(algo == "grpo" || sde_window == 0,
                "--sde-window is for --algo grpo; reward-grad needs every step "
                "stochastic");
  rollout_options().validate();
}

double FinetuneConfig::resolved_noise_level() const {
  if (noise_level > 0) return noise_level;
  return algo == "grpo" ? 0.7 : std::sqrt(2.0);
}

double FinetuneConfig::resolved_adv_clip() const {
  if (adv_clip > 0) return adv_clip;
  const bool raw_scale = adv_norm == "none" || adv_norm == "center";
  return raw_scale ? std::numeric_limits<double>::infinity() : 5.0;
}

RolloutOptions FinetuneConfig::rollout_options() const {
  RolloutOptions o;
  o.steps = rollout_steps;
  o.noise_level = resolved_noise_level();
  o.sde_window = sde_window;
  return o;
}

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(FinetuneConfig, checkpoint, weights, data, features, out, disc,
                                                disc_samples, disc_hidden, disc_epochs, disc_patience, disc_batch,
                                                disc_lr, disc_sampler, disc_sampler_steps, refresh_every,
                                                refresh_anchor, disc_class_ratio, reward_scale, algo, adv_norm,
                                                adv_clip, kl_to_go, beta, clip_range, steps, groups, group_size,
                                                rollout_steps, noise_level, sde_window, inner_epochs, micro_batch, lr,
                                                weight_decay, grad_clip, ema_decay, seed, device, log_every, ckpt_every,
                                                sample_every, keep_checkpoints, grid_images, data_threads)

nlohmann::json to_json(const FinetuneConfig& c) {
  nlohmann::json j;
  to_json(j, c);
  return j;
}

FinetuneConfig finetune_config_from_json(const nlohmann::json& j) {
  FinetuneConfig c;
  try {
    from_json(j, c);
  } catch (const nlohmann::json::exception& e) {
    fail("finetune config: ", e.what());
  }
  return c;
}

}  // namespace fluxion::train
