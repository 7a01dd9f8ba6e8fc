// run_training in its steps (training_run.h lists where each lives): set the run up (resuming it
// when asked), run its optimizer steps with their logging, grids and checkpoints, finish.
#include "train/trainer.h"

#include "train/train_loop.h"
#include "train/training_run.h"

namespace fluxion::train {

TrainResult run_training(TrainConfig config, bool resume, const std::string& config_toml) {
  const auto run = open_training_run(std::move(config), resume, config_toml);
  TrainLoop loop(*run);
  loop.run();
  return loop.finish();
}

}  // namespace fluxion::train
