#pragma once
// The optimizer steps of a training run (internal to train/; training_run.h lists the steps of
// run_training): from the run's step to config.steps, each seeded by (seed, step), with what
// happens at their cadence: a metrics.jsonl line every log_every steps, a sample grid and the
// report every sample_every, an evaluation every eval_every (when set), a checkpoint every
// ckpt_every, and all of them after the last step.
// Per-step figures stay on the device (StepMonitor); the host reads them at those steps, so a
// CUDA step never waits for the GPU. --on-nonfinite skip reads each step's flag instead, to leave
// the EMA alone on a skipped step and to say which step it was.
#include <chrono>
#include <cstdint>
#include <string>

#include "core/progress.h"
#include "train/graphed_step.h"
#include "train/step_monitor.h"
#include "train/trainer.h"
#include "train/training_run.h"

namespace fluxion::train {

class TrainLoop {
 public:
  explicit TrainLoop(TrainingRun& run);  // the progress bar starts at the run's step
  void run();                            // steps to config.steps
  TrainResult finish();                  // after the last step: the ranks meet, the result

 private:
  StepStats step_once(double lr);  // one optimizer step over config.grad_accum micro-batches
  // The batch of the next micro-batch on the training device: images and labels.
  std::pair<torch::Tensor, torch::Tensor> next_batch();
  void count_step(const StepStats& stats);
  void log_window(double lr);  // a metrics.jsonl line for the steps since the last one
  void write_samples();        // the grid of the first EMA and report.html
  void evaluate();             // --eval-every: the first EMA's FD into metrics.jsonl and report.html
  // A non-finite step stops the run before anything after it is logged or written.
  void stop_if_nonfinite();
  bool due(int64_t every) const { return run_.step % every == 0 || run_.step == run_.config.steps; }

  TrainingRun& run_;
  TrainResult result_;
  core::Progress progress_;
  const bool skip_nonfinite_;
  StepMonitor monitor_;
  const bool pin_;             // page-locked batches copy without waiting for the GPU
  samplers::ModelFn network_;  // the model as the objective calls it: its raw output
  // One micro-batch per step: the step, replayed from a CUDA graph on the GPU (--cuda-graphs)
  std::unique_ptr<GraphedStep> graphed_;
  const int64_t first_step_;
  int64_t window_steps_ = 0, skipped_ = 0;
  std::string shown_loss_;
  std::chrono::steady_clock::time_point window_start_, run_start_;
};

}  // namespace fluxion::train
