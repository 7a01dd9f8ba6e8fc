#pragma once
// What the trainer reports about its steps, kept on the training device so that a step never
// waits for the GPU: the loss and gradient-norm sums of the current log window and the first
// step whose loss or gradient norm was not finite. Reading it (take, first_nonfinite) syncs, which
// the trainer does at log, checkpoint and grid steps only.
#include <torch/torch.h>

#include <cstdint>
#include <optional>

#include "train/train_step.h"

namespace fluxion::train {

class StepMonitor {
 public:
  explicit StepMonitor(torch::Device device);

  // Records step number `step` (1-based); non-finite steps count only towards first_nonfinite.
  void add(int64_t step, const StepStats& stats);

  struct Window {
    int64_t steps = 0;       // finite steps in the window
    double mean_loss = 0.0;  // over those steps (NaN when there were none)
    double mean_grad_norm = 0.0;
  };
  // The window since the last take(), which starts a new one.
  Window take();

  struct NonFinite {
    int64_t step = 0;
    double loss = 0.0;  // may be finite when the gradient norm was not
    double grad_norm = 0.0;
  };
  // The first non-finite step recorded, if any.
  std::optional<NonFinite> first_nonfinite() const;

 private:
  torch::Tensor loss_sum_, norm_sum_, finite_steps_;                // float64, this window
  torch::Tensor first_bad_step_, first_bad_loss_, first_bad_norm_;  // float64; step 0: none yet
};

}  // namespace fluxion::train
