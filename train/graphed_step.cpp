#include "train/graphed_step.h"

#include <ATen/autocast_mode.h>

#include <string>
#include <vector>

#include "core/compat.h"
#include "core/log.h"

#ifndef FLUXION_HAVE_CUDA
#define FLUXION_HAVE_CUDA 0
#endif
// The captured step reads the learning rate from the device (AdamW::set_lr).
#define FLUXION_STEP_GRAPHS (FLUXION_HAVE_CUDA && FLUXION_FUSED_ADAMW_TENSOR_LR)

#if FLUXION_STEP_GRAPHS
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace fluxion::train {

bool step_graphs_available() { return FLUXION_STEP_GRAPHS != 0; }

#if FLUXION_STEP_GRAPHS
namespace {
constexpr int64_t kWarmupSteps = 2;  // eager steps on the side stream before the capture

bool same_signature(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].sizes() != b[i].sizes() || a[i].scalar_type() != b[i].scalar_type() || a[i].device() != b[i].device())
      return false;
  }
  return true;
}

objectives::LossDraws draws_of(const std::vector<torch::Tensor>& inputs) {
  return objectives::LossDraws(inputs.begin() + 1, inputs.end());
}
}  // namespace

struct GraphedStep::Graph {
  explicit Graph(c10::DeviceIndex device) : side(c10::cuda::getStreamFromPool(false, device)) {}
  // Captures and warm-ups run here: the default stream cannot be captured, and lazy
  // initialisation (cuBLAS workspaces) must happen for this stream outside the capture.
  c10::cuda::CUDAStream side;
  int64_t warmups = 0;
  bool captured = false;
  at::cuda::CUDAGraph graph;
  std::vector<torch::Tensor> inputs;  // x, then the draws: each replayed step copies into them
  StepStats outputs;                  // what the graph writes
};
#else
struct GraphedStep::Graph {};
#endif

GraphedStep::GraphedStep(TrainStep& step, LossOnDraws loss, bool enabled)
    : step_(step), loss_(std::move(loss)), enabled_(enabled) {}

GraphedStep::~GraphedStep() = default;

StepStats GraphedStep::body(const torch::Tensor& x, const objectives::LossDraws& draws) {
  const auto loss = step_.backward([&](int64_t) { return loss_(x, draws); }, 1);
  return step_.apply_at_set_lr(loss);
}

StepStats GraphedStep::eager(const torch::Tensor& x, const objectives::LossDraws& draws, double lr) {
  ++stats_.eager_steps;
  step_.set_lr(lr);
  return body(x, draws);
}

StepStats GraphedStep::run(const torch::Tensor& x, const objectives::LossDraws& draws, double lr) {
#if FLUXION_STEP_GRAPHS
  if (!enabled_ || !x.is_cuda() || stats_.capture_failed || step_.host_dependent()) return eager(x, draws, lr);
  std::vector<torch::Tensor> inputs{x};
  inputs.insert(inputs.end(), draws.begin(), draws.end());
  const c10::cuda::CUDAGuard device_guard(x.device());
  auto current = c10::cuda::getCurrentCUDAStream(x.device().index());
  if (!graph_) graph_ = std::make_unique<Graph>(x.device().index());
  Graph& g = *graph_;

  if (g.captured) {
    if (!same_signature(inputs, g.inputs)) return eager(x, draws, lr);  // e.g. a short last batch
    for (size_t i = 0; i < inputs.size(); ++i) g.inputs[i].copy_(inputs[i]);
    step_.set_lr(lr);
    g.graph.replay();
    ++stats_.replays;
    // the next replay overwrites the graph's outputs
    return {g.outputs.loss.clone(), g.outputs.grad_norm.clone(), g.outputs.finite.clone()};
  }

  current.synchronize();
  if (g.warmups < kWarmupSteps) {
    ++g.warmups;
    StepStats stats;
    {
      const c10::cuda::CUDAStreamGuard stream_guard(g.side);
      stats = eager(x, draws, lr);
    }
    g.side.synchronize();
    return stats;
  }

  // The capture records this step without running it; the replay below runs it.
  for (const auto& t : inputs) g.inputs.push_back(t.clone());
  step_.set_lr(lr);
  current.synchronize();
  // The graph allocates from its own pool: what the eager steps left cached would otherwise stay
  // reserved beside it (twice the activations of a step).
  c10::cuda::CUDACachingAllocator::emptyCache();
  // weights cast by autocast would be cached in the graph's private memory: cast inside it
  const bool autocast_cache = at::autocast::is_autocast_cache_enabled();
  at::autocast::set_autocast_cache_enabled(false);
  bool ok = true;
  std::string why;
  {
    const c10::cuda::CUDAStreamGuard stream_guard(g.side);
    try {
      g.graph.capture_begin();
      try {
        g.outputs = body(g.inputs[0], draws_of(g.inputs));
      } catch (...) {
        try {
          g.graph.capture_end();  // leaves capture mode; throws for the invalidated capture
        } catch (...) {
        }
        throw;
      }
      g.graph.capture_end();
    } catch (const std::exception& e) {
      ok = false;
      why = e.what();
    }
    g.side.synchronize();
  }
  at::autocast::set_autocast_cache_enabled(autocast_cache);
  if (!ok) {
    (void)cudaGetLastError();  // the failed capture's error must not surface at the next kernel launch
    stats_.capture_failed = true;
    step_.optimizer().zero_grad();  // gradients a failed capture may have left in its memory
    graph_.reset();
    const auto line = why.substr(0, why.find('\n'));
    core::log_warn("CUDA graphs off for the training step (its capture failed: " + line.substr(0, 200) +
                   "); it runs eagerly");
    return eager(x, draws, lr);
  }
  g.captured = true;
  ++stats_.captures;
  core::log_info(
      "the training step is captured into a CUDA graph and replayed from now on (--cuda-graphs false: eager)");
  g.graph.replay();
  ++stats_.replays;
  return {g.outputs.loss.clone(), g.outputs.grad_norm.clone(), g.outputs.finite.clone()};
#else
  (void)enabled_;
  return eager(x, draws, lr);
#endif
}

}  // namespace fluxion::train
