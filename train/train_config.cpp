#include "train/train_config.h"

#include "core/error.h"
#include "core/json_integers.h"

namespace fluxion::train {

void TrainConfig::validate() const {
  objective.validate();
  FLUXION_CHECK(steps > 0, "--steps must be positive, got ", steps);
  FLUXION_CHECK(batch > 0, "--batch must be positive, got ", batch);
  FLUXION_CHECK(grad_accum > 0 && batch % grad_accum == 0, "--grad-accum ", grad_accum, " must divide --batch ", batch);
  FLUXION_CHECK(image_size > 0, "--image-size must be positive, got ", image_size);
  FLUXION_CHECK(crop == "resize" || crop == "adm", "--crop must be resize or adm, got '", crop, "'");
  FLUXION_CHECK(on_nonfinite == "stop" || on_nonfinite == "skip", "--on-nonfinite must be stop or skip, got '",
                on_nonfinite, "'");
  FLUXION_CHECK(!ema_decays.empty(), "at least one EMA decay is needed (--ema)");
  FLUXION_CHECK(log_every > 0 && ckpt_every > 0 && sample_every > 0,
                "--log-every, --ckpt-every and --sample-every must be positive");
  FLUXION_CHECK(grid_images >= 0, "--grid-images must be 0 (no grids) or positive, got ", grid_images);
  FLUXION_CHECK(eval_every >= 0, "--eval-every must be 0 (never) or positive, got ", eval_every);
  FLUXION_CHECK(eval_samples >= 2, "--eval-samples must be at least 2 (a covariance), got ", eval_samples);
}

// One field list serves both directions; keys are the member names, and keys a JSON object lacks
// keep the struct's defaults (older checkpoints, hand-written configs). The objective's keys are
// read and written by objectives/objective_config.h.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(TrainConfig, model, attention, data, image_size, crop, data_threads,
                                                vae, vae_config, steps, batch, grad_accum, lr, beta1, beta2,
                                                weight_decay, adam_eps, warmup, lr_schedule, final_lr, grad_clip,
                                                ema_decays, on_nonfinite, seed, device, precision, cuda_graphs, out,
                                                log_every, ckpt_every, sample_every, keep_checkpoints, grid_images,
                                                grid_sampler, grid_steps, grid_cfg, grid_level_stride, eval_every,
                                                eval_samples, eval_features, eval_ref)

nlohmann::json to_json(const TrainConfig& c) {
  nlohmann::json j;
  to_json(j, c);
  objectives::add_objective_json(j, c.objective);
  return j;
}

TrainConfig train_config_from_json(const nlohmann::json& j) {
  static const nlohmann::json defaults = to_json(TrainConfig{});
  core::check_json_integers(j, defaults, "training config");
  TrainConfig c;
  try {
    from_json(j, c);
  } catch (const nlohmann::json::exception& e) {
    fail("training config: ", e.what());
  }
  c.objective = objectives::objective_config_from_json(j);
  return c;
}

}  // namespace fluxion::train
