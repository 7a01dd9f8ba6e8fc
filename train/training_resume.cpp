// Resuming a training run from checkpoints/last.safetensors (trainer.h): the recipe comes back
// first (resolve_run_config), the state once the run is set up with it (restore_training_state).
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/log.h"
#include "train/metrics_log.h"
#include "train/training_run.h"

namespace fluxion::train {

namespace fs = std::filesystem;

std::optional<objectives::Checkpoint> resolve_run_config(TrainConfig& config, bool resume, const RunPaths& paths) {
  if (!resume) {
    FLUXION_CHECK(!fs::exists(paths.last_path), paths.out,
                  " already holds a run (checkpoints/last.safetensors); pass --resume to continue it "
                  "or choose another --out");
    return std::nullopt;
  }
  FLUXION_CHECK(fs::exists(paths.last_path), paths.out, ": nothing to resume (no checkpoints/last.safetensors)");
  auto checkpoint = objectives::load_checkpoint(paths.last_path);
  auto resumed = train_config_from_json(nlohmann::json::parse(checkpoint.train_config));
  // A resumed run keeps its recipe; only the length (when given), the place and the device
  // may change. steps <= 0 means "as the checkpoint says".
  if (config.steps > 0) resumed.steps = config.steps;
  resumed.out = config.out;
  resumed.device = config.device;
  config = resumed;
  return checkpoint;
}

void restore_training_state(TrainingRun& run, const objectives::Checkpoint& checkpoint) {
  const auto& last_path = run.paths.last_path;
  run.model->load_state(checkpoint.model, last_path);
  run.train_step->optimizer().load_state(checkpoint.optimizer, last_path);
  FLUXION_CHECK(checkpoint.emas.size() == run.config.ema_decays.size(), last_path,
                ": EMA count differs from the config");
  for (size_t i = 0; i < checkpoint.emas.size(); ++i) run.train_step->ema().load(i, checkpoint.emas[i], last_path);
  run.step = checkpoint.step;
  run.data->set_position(checkpoint.data_position);
  if (run.writer) run.elapsed_before_s = truncate_metrics(run.paths.metrics_path, run.step);
  core::log_info("resumed " + run.paths.out + " at step " + std::to_string(run.step));
}

}  // namespace fluxion::train
