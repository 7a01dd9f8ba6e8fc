// A training run's checkpoints (objectives/checkpoint.h is the format): written atomically,
// last.safetensors pointed at the newest, old step files pruned.
#include <filesystem>

#include "core/error.h"
#include "train/checkpoint_files.h"
#include "train/training_run.h"

namespace fluxion::train {

namespace fs = std::filesystem;

std::string save_training_checkpoint(TrainingRun& run, int64_t step) {
  const auto& config = run.config;
  const auto& paths = run.paths;
  objectives::Checkpoint c;
  c.model = run.model->state_dict();
  for (size_t i = 0; i < config.ema_decays.size(); ++i) c.emas.push_back(run.train_step->ema().weights(i));
  c.ema_decays = config.ema_decays;
  c.optimizer = run.train_step->optimizer().state();
  c.objective = run.objective->state();
  c.step = step;
  c.data_position = run.data->position();
  c.model_config = run.model_config_json;
  c.train_config = run.train_config_json;
  const std::string path = paths.ckpt_dir + "/" + checkpoint_name(step);
  try {
    objectives::save_checkpoint(path, c);
    update_last_link(path, paths.last_path);
  } catch (const std::exception& e) {
    // A full disk or a read-only folder: the writes are atomic, so the previous checkpoint is
    // intact; the one line says where it is.
    fail("checkpoint of step ", step, " not written (", e.what(), "); stopped, ",
         fs::exists(paths.last_path) ? "the last good checkpoint is " + paths.last_path
                                     : "no checkpoint was written before it");
  }
  prune_checkpoints(paths.ckpt_dir, config.keep_checkpoints);
  return path;
}

}  // namespace fluxion::train
