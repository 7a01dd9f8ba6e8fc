#pragma once
// One training run's state, built by open_training_run in the order its parts need each other
// (internal to train/; trainer.h is the interface). The steps of run_training (trainer.cpp):
//   open_training_run   (training_run.cpp)      config, devices and ranks, data, model, optimizer,
//                                               objective, run directory, gradient sync, grid,
//                                               evaluation;
//     resolve_run_config, restore_training_state (training_resume.cpp) for --resume;
//   TrainLoop           (train_loop.cpp)        the optimizer steps with their logging, grids and
//     save_training_checkpoint (training_checkpoint.cpp) checkpoints, then finishing.
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "models/zoo.h"
#include "objectives/checkpoint.h"
#include "objectives/objective.h"
#include "train/distributed.h"
#include "train/lr_schedule.h"
#include "train/run_sampler.h"
#include "train/sample_grid.h"
#include "train/train_config.h"
#include "train/train_step.h"
#include "train/training_data.h"
#include "train/training_eval.h"

namespace fluxion::train {

// The files of a run directory (DESIGN.md, Run directory).
struct RunPaths {
  explicit RunPaths(const std::string& out);
  std::string out;
  std::string ckpt_dir;      // out/checkpoints
  std::string last_path;     // out/checkpoints/last.safetensors
  std::string metrics_path;  // out/metrics.jsonl
};

struct TrainingRun {
  TrainConfig config;  // resolved: a resumed run's is the checkpoint's recipe
  RunPaths paths;
  DistEnv dist_env;
  torch::Device device{torch::kCPU};
  bool writer = true;                   // rank 0 alone writes files
  std::unique_ptr<ProcessGroup> group;  // data parallel only
  torch::ScalarType precision = torch::kFloat;
  std::unique_ptr<TrainingData> data;
  models::ModelConfig model_config;
  models::BackbonePtr model;
  std::unique_ptr<TrainStep> train_step;  // AdamW + EMA
  LrSchedule schedule;
  std::unique_ptr<objectives::Objective> objective;
  BatchShard shard;                                  // this rank's rows of each global micro-batch
  std::unique_ptr<GradientSync> gradient_sync;       // data parallel only
  std::unique_ptr<RunSampler> sampler;               // the writer's, for grids and evaluations
  std::unique_ptr<SampleGrid> grid;                  // the writer's, with --grid-images > 0
  std::unique_ptr<TrainingEval> eval;                // the writer's, with --eval-every > 0
  int64_t step = 0;                                  // steps done
  double elapsed_before_s = 0;                       // wall time of the run before a resume
  std::string train_config_json, model_config_json;  // stored in every checkpoint
};

// Setup: everything before the first step, resumed from checkpoints/last.safetensors when
// `resume` (trainer.h says what may change then).
std::unique_ptr<TrainingRun> open_training_run(TrainConfig config, bool resume, const std::string& config_toml);

// Resume, first half: a new run checks that `out` holds none; a resumed one loads the last
// checkpoint and replaces `config` by its recipe (keeping the new length, place and device).
std::optional<objectives::Checkpoint> resolve_run_config(TrainConfig& config, bool resume, const RunPaths& paths);
// Resume, second half: weights, optimizer moments, EMAs, step and data position from `checkpoint`
// into a run set up with its config; metrics.jsonl cut back to the step.
void restore_training_state(TrainingRun& run, const objectives::Checkpoint& checkpoint);

// Writes checkpoints/step-XXXXXXX.safetensors at `step`, points last at it and prunes old ones;
// returns its path. A failed write stops the run with one line naming the last good checkpoint.
std::string save_training_checkpoint(TrainingRun& run, int64_t step);

}  // namespace fluxion::train
