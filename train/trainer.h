#pragma once
// The training loop: data -> objective x backbone -> AdamW + EMA, with logging, sample grids and
// atomic checkpoints in a run directory (DESIGN.md, Run directory):
//   config.toml / config.json   the resolved configuration
//   metrics.jsonl               one JSON object per logged step
//   checkpoints/step-XXXXXXX.safetensors, checkpoints/last.safetensors
//   samples/step-XXXXXXX.png    grids from fixed noise and labels, sampled with the first EMA
//   report.html                 loss curve and the latest grid
// Resuming (`resume = true`) continues exactly: every step's randomness is derived from
// (seed, step) and the data order from (seed, epoch), so an interrupted and resumed run ends with
// the same weights as an uninterrupted one on the same device.
#include <string>

#include "train/train_config.h"

namespace fluxion::train {

struct TrainResult {
  int64_t steps_done = 0;   // total steps of the run at the end
  double final_loss = 0.0;  // mean loss of the last logging window
  double images_per_second = 0.0;
  std::string last_checkpoint;
};

// With `resume`, config.steps > 0 sets the new length of the run; 0 keeps the checkpoint's.
// `config_toml` is written verbatim to the run directory as config.toml (the CLI passes its
// resolved options); may be empty.
TrainResult run_training(TrainConfig config, bool resume, const std::string& config_toml = "");

}  // namespace fluxion::train
