#include "train/train_config.h"

#include "core/error.h"

namespace fluxion::train {

void TrainConfig::validate() const {
  FLUXION_CHECK(objective == "flow" || objective == "dale", "unknown objective '", objective,
                "' (flow, dale)");
  FLUXION_CHECK(steps > 0, "--steps must be positive, got ", steps);
  FLUXION_CHECK(batch > 0, "--batch must be positive, got ", batch);
  FLUXION_CHECK(grad_accum > 0 && batch % grad_accum == 0, "--grad-accum ", grad_accum,
                " must divide --batch ", batch);
  FLUXION_CHECK(image_size > 0, "--image-size must be positive, got ", image_size);
  FLUXION_CHECK(on_nonfinite == "stop" || on_nonfinite == "skip", "--on-nonfinite must be stop or skip, got '",
                on_nonfinite, "'");
  FLUXION_CHECK(!ema_decays.empty(), "at least one EMA decay is needed (--ema)");
  FLUXION_CHECK(log_every > 0 && ckpt_every > 0 && sample_every > 0,
                "--log-every, --ckpt-every and --sample-every must be positive");
  flow.validate();
  dale.validate();
}

nlohmann::json to_json(const TrainConfig& c) {
  return {
      {"model", c.model}, {"attention", c.attention}, {"objective", c.objective},
      {"flow",
       {{"path", c.flow.path}, {"prediction", c.flow.prediction}, {"loss_weight", c.flow.loss_weight},
        {"time_sampling", c.flow.time_sampling}, {"t0", c.flow.t0}, {"t1", c.flow.t1},
        {"logit_mean", c.flow.logit_mean}, {"logit_std", c.flow.logit_std},
        {"noise_scale", c.flow.noise_scale}, {"x_pred_t_eps", c.flow.x_pred_t_eps},
        {"label_dropout", c.flow.label_dropout}}},
      {"dale",
       {{"sigma", c.dale.sigma}, {"mu", c.dale.mu}, {"levels", c.dale.levels},
        {"horizon", c.dale.horizon}, {"offset", c.dale.offset}, {"weighting", c.dale.weighting},
        {"label_dropout", c.dale.label_dropout}}},
      {"data", c.data}, {"image_size", c.image_size}, {"data_threads", c.data_threads},
      {"steps", c.steps}, {"batch", c.batch}, {"grad_accum", c.grad_accum}, {"lr", c.lr},
      {"beta1", c.beta1}, {"beta2", c.beta2}, {"weight_decay", c.weight_decay},
      {"adam_eps", c.adam_eps}, {"warmup", c.warmup}, {"lr_schedule", c.lr_schedule},
      {"final_lr", c.final_lr}, {"grad_clip", c.grad_clip}, {"ema_decays", c.ema_decays},
      {"on_nonfinite", c.on_nonfinite}, {"seed", c.seed}, {"device", c.device},
      {"precision", c.precision}, {"out", c.out}, {"log_every", c.log_every},
      {"ckpt_every", c.ckpt_every}, {"sample_every", c.sample_every},
      {"keep_checkpoints", c.keep_checkpoints}, {"grid_images", c.grid_images},
      {"grid_sampler", c.grid_sampler}, {"grid_steps", c.grid_steps}, {"grid_cfg", c.grid_cfg},
      {"grid_level_stride", c.grid_level_stride},
  };
}

TrainConfig train_config_from_json(const nlohmann::json& j) {
  TrainConfig c;
  try {
    auto get = [&](const char* key, auto& field) {
      if (j.contains(key)) j.at(key).get_to(field);
    };
    get("model", c.model); get("attention", c.attention); get("objective", c.objective);
    if (j.contains("flow")) {
      const auto& f = j.at("flow");
      auto getf = [&](const char* key, auto& field) {
        if (f.contains(key)) f.at(key).get_to(field);
      };
      getf("path", c.flow.path); getf("prediction", c.flow.prediction);
      getf("loss_weight", c.flow.loss_weight); getf("time_sampling", c.flow.time_sampling);
      getf("t0", c.flow.t0); getf("t1", c.flow.t1); getf("logit_mean", c.flow.logit_mean);
      getf("logit_std", c.flow.logit_std); getf("noise_scale", c.flow.noise_scale);
      getf("x_pred_t_eps", c.flow.x_pred_t_eps); getf("label_dropout", c.flow.label_dropout);
    }
    if (j.contains("dale")) {
      const auto& d = j.at("dale");
      auto getd = [&](const char* key, auto& field) {
        if (d.contains(key)) d.at(key).get_to(field);
      };
      getd("sigma", c.dale.sigma); getd("mu", c.dale.mu); getd("levels", c.dale.levels);
      getd("horizon", c.dale.horizon); getd("offset", c.dale.offset);
      getd("weighting", c.dale.weighting); getd("label_dropout", c.dale.label_dropout);
    }
    get("data", c.data); get("image_size", c.image_size); get("data_threads", c.data_threads);
    get("steps", c.steps); get("batch", c.batch); get("grad_accum", c.grad_accum); get("lr", c.lr);
    get("beta1", c.beta1); get("beta2", c.beta2); get("weight_decay", c.weight_decay);
    get("adam_eps", c.adam_eps); get("warmup", c.warmup); get("lr_schedule", c.lr_schedule);
    get("final_lr", c.final_lr); get("grad_clip", c.grad_clip); get("ema_decays", c.ema_decays);
    get("on_nonfinite", c.on_nonfinite); get("seed", c.seed); get("device", c.device);
    get("precision", c.precision); get("out", c.out); get("log_every", c.log_every);
    get("ckpt_every", c.ckpt_every); get("sample_every", c.sample_every);
    get("keep_checkpoints", c.keep_checkpoints); get("grid_images", c.grid_images);
    get("grid_sampler", c.grid_sampler); get("grid_steps", c.grid_steps); get("grid_cfg", c.grid_cfg);
    get("grid_level_stride", c.grid_level_stride);
  } catch (const nlohmann::json::exception& e) {
    fail("training config: ", e.what());
  }
  return c;
}

}  // namespace fluxion::train
