#pragma once
// One optimisation step exactly as `fluxion train` runs it; the trainer, `bench --what train`
// and the golden training test (tests/test_train_golden.cpp) all go through this class, so the
// step the golden test compares with the official SiT code is the step that trains models:
//   backward():  for each micro-batch, (loss / micro_batches).backward()
//   apply():     global gradient norm (clipped when grad_clip > 0); if loss and norm are finite,
//                AdamW at lr, gradients released, EMA update; otherwise gradients released only.
// Nothing is read on the host: the loss, the norm and the finiteness flag stay on the training
// device (so a CUDA step does not wait for the GPU), and the fused AdamW kernel skips a
// non-finite step by itself. The EMA then averages towards the unchanged weights, unless
// `exact_skips` is set: then the flag is read every step and a non-finite step changes nothing.
// Data parallel (set_gradient_sync): the last micro-batch's backward averages the gradients over
// the ranks as they appear (GradientSync, train/distributed.h), and the loss is the mean over ranks.
#include <torch/torch.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "models/backbone.h"
#include "train/adamw.h"
#include "train/ema.h"
#include "train/train_config.h"

namespace fluxion::train {

class GradientSync;

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

// 0-dim tensors on the training device.
struct StepStats {
  torch::Tensor loss;       // float32, mean over micro-batches
  torch::Tensor grad_norm;  // float32, before clipping
  torch::Tensor finite;     // bool: loss and norm finite, the update was applied
};

class TrainStep {
 public:
  // AdamW over the model's trainable parameters (lr, betas, eps, weight decay from `config`),
  // and one EMA per config.ema_decays over every parameter and buffer, initialised by copy.
  TrainStep(models::Backbone& model, const TrainConfig& config);

  // Accumulates the gradients of micro_loss(0), ..., micro_loss(micro_batches - 1), each scaled
  // by 1 / micro_batches; returns the mean loss (detached, float32, on the loss's device).
  torch::Tensor backward(const std::function<torch::Tensor(int64_t micro)>& micro_loss, int64_t micro_batches);
  // Clips, then updates when finite (see above). apply(loss, lr) is set_lr(lr) then
  // apply_at_set_lr(loss); a step replayed from a CUDA graph (graphed_step.h) calls set_lr before
  // each replay and captures apply_at_set_lr, which reads the rate from the device.
  StepStats apply(const torch::Tensor& loss, double lr);
  void set_lr(double lr) { optimizer_.set_lr(lr); }
  StepStats apply_at_set_lr(const torch::Tensor& loss);
  // Whether apply reads anything on the host (exact skips) or talks to other ranks: such a step
  // cannot be captured into a CUDA graph.
  bool host_dependent() const { return exact_skips_ || sync_ != nullptr; }
  // Read the finiteness flag every step, so that a skipped step leaves the EMA alone too
  // (--on-nonfinite skip); off by default, where a non-finite step stops the run anyway.
  void set_exact_skips(bool exact) { exact_skips_ = exact; }
  // Averages gradients and the loss over the ranks of `sync` (not owned; nullptr: one process).
  void set_gradient_sync(GradientSync* sync) { sync_ = sync; }

  AdamW& optimizer() { return optimizer_; }
  EmaSet& ema() { return ema_; }
  const NamedTensors& trainable() const { return trainable_; }

 private:
  NamedTensors weights_;    // parameters and buffers: what the EMAs average
  NamedTensors trainable_;  // parameters that require grad
  std::vector<torch::Tensor> trainable_tensors_;
  double grad_clip_;
  bool exact_skips_ = false;
  GradientSync* sync_ = nullptr;
  AdamW optimizer_;
  EmaSet ema_;
};

}  // namespace fluxion::train
