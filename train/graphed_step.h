#pragma once
// The training step replayed from a CUDA graph (issue 13). A step of a small model is thousands
// of small kernels (forward, backward, gradient norm, AdamW, EMA) whose shapes never change, and
// launching them one by one costs the host more time than the GPU spends on them: SiT-T/4 at
// batch 256 trains at about 15 ms per step eagerly on an H200. Here the first steps run eagerly
// on a side stream (lazy initialisation: cuBLAS workspaces, the optimizer's step counts), the next
// one is captured, and every later step copies its batch and random draws into the graph's
// buffers, writes the learning rate to the device and replays the graph.
// The draws are made eagerly from the step's generator exactly as the eager step makes them, so
// replayed steps give the eager step's weights to the bit. Steps run eagerly off the GPU, without
// a CUDA LibTorch (with the fused AdamW's device learning rate), when the step reads the host or
// other ranks (TrainStep::host_dependent), for a batch of another shape than the captured one,
// and after a failed capture (reported once in a warning line).
#include <torch/torch.h>

#include <functional>
#include <memory>

#include "objectives/objective.h"
#include "train/train_step.h"

namespace fluxion::train {

// Whether this build can capture training steps (a CUDA LibTorch >= 2.2).
bool step_graphs_available();

struct StepGraphStats {
  int64_t eager_steps = 0;      // steps run eagerly (warm-up, CPU, host-dependent, other shapes, failures)
  int64_t captures = 0;         // graphs captured
  int64_t replays = 0;          // steps run by replaying the graph
  bool capture_failed = false;  // every later step runs eagerly
};

class GraphedStep {
 public:
  // The loss on a batch x and its draws, under the run's autocast (objective.h's loss_on_draws).
  using LossOnDraws = std::function<torch::Tensor(const torch::Tensor& x, const objectives::LossDraws& draws)>;

  // `step` and whatever `loss` refers to must outlive this object. enabled false: always eager.
  GraphedStep(TrainStep& step, LossOnDraws loss, bool enabled);
  ~GraphedStep();
  GraphedStep(const GraphedStep&) = delete;
  GraphedStep& operator=(const GraphedStep&) = delete;

  // One optimizer step (TrainStep::backward over one micro-batch, then apply at lr) on x and its
  // draws, both on the training device.
  StepStats run(const torch::Tensor& x, const objectives::LossDraws& draws, double lr);
  const StepGraphStats& stats() const { return stats_; }

 private:
  StepStats eager(const torch::Tensor& x, const objectives::LossDraws& draws, double lr);
  StepStats body(const torch::Tensor& x, const objectives::LossDraws& draws);  // after set_lr

  struct Graph;  // the CUDA graph and its buffers (graphed_step.cpp)
  TrainStep& step_;
  LossOnDraws loss_;
  bool enabled_;
  StepGraphStats stats_;
  std::unique_ptr<Graph> graph_;
};

}  // namespace fluxion::train
