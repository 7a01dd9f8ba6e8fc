#include "samplers/graphed_model.h"

#include <ATen/autocast_mode.h>

#include <map>
#include <tuple>
#include <vector>

#include "core/log.h"

#ifndef FLUXION_HAVE_CUDA
#define FLUXION_HAVE_CUDA 0
#endif

#if FLUXION_HAVE_CUDA
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace fluxion::samplers {

bool cuda_graphs_available() { return FLUXION_HAVE_CUDA != 0; }

#if FLUXION_HAVE_CUDA
namespace {

// What a graph was captured for: the inputs' shapes and dtypes and the device.
using Signature = std::tuple<std::vector<int64_t>, std::vector<int64_t>, std::vector<int64_t>, int, int, int, int>;

Signature signature_of(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& y) {
  return {x.sizes().vec(),
          t.sizes().vec(),
          y.sizes().vec(),
          static_cast<int>(x.scalar_type()),
          static_cast<int>(t.scalar_type()),
          static_cast<int>(y.scalar_type()),
          static_cast<int>(x.device().index())};
}

// One captured forward pass: the buffers it reads and writes, and the graph.
struct Captured {
  at::cuda::CUDAGraph graph;
  torch::Tensor x, t, y;  // the inputs the graph reads: each call copies into them
  torch::Tensor out;      // the output the graph writes
};

class GraphedModel {
 public:
  GraphedModel(ModelFn model, std::shared_ptr<GraphStats> stats) : model_(std::move(model)), stats_(std::move(stats)) {}

  torch::Tensor operator()(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& y) {
    if (!x.is_cuda() || stats_->capture_failed) {
      ++stats_->eager_calls;
      return model_(x, t, y);
    }
    const auto key = signature_of(x, t, y);
    auto found = graphs_.find(key);
    if (found == graphs_.end()) {
      auto captured = capture(x, t, y);
      if (!captured) {
        ++stats_->eager_calls;
        return model_(x, t, y);
      }
      found = graphs_.emplace(key, std::move(captured)).first;
    }
    Captured& c = *found->second;
    c.x.copy_(x);
    c.t.copy_(t);
    c.y.copy_(y);
    c.graph.replay();
    ++stats_->replays;
    // the next replay overwrites the buffer, and a sampler keeps several evaluations (Heun)
    return c.out.clone();
  }

 private:
  std::unique_ptr<Captured> capture(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& y) {
    auto c = std::make_unique<Captured>();
    const c10::cuda::CUDAGuard device_guard(x.device());
    c->x = x.clone();
    c->t = t.to(x.device()).clone();
    c->y = y.to(x.device()).clone();
    // Capture on a side stream (the default stream cannot be captured), after the work queued so
    // far; the warm-up runs lazy initialisation (cuBLAS handles, workspaces) outside the capture.
    auto current = c10::cuda::getCurrentCUDAStream(x.device().index());
    current.synchronize();
    auto side = c10::cuda::getStreamFromPool(false, x.device().index());
    // weights cast by autocast would be cached in the graph's private memory: cast inside it
    const bool autocast_cache = at::autocast::is_autocast_cache_enabled();
    at::autocast::set_autocast_cache_enabled(false);
    bool ok = true;
    std::string why;
    {
      const c10::cuda::CUDAStreamGuard stream_guard(side);
      try {
        for (int i = 0; i < 2; ++i) model_(c->x, c->t, c->y);
        side.synchronize();
        c->graph.capture_begin();
        try {
          c->out = model_(c->x, c->t, c->y);
        } catch (...) {
          try {
            c->graph.capture_end();  // leaves capture mode; throws for the invalidated capture
          } catch (...) {
          }
          throw;
        }
        c->graph.capture_end();
      } catch (const std::exception& e) {
        ok = false;
        why = e.what();
      }
      side.synchronize();
    }
    at::autocast::set_autocast_cache_enabled(autocast_cache);
    if (!ok) {
      (void)cudaGetLastError();  // the failed capture's error must not surface at the next kernel launch
      stats_->capture_failed = true;
      const auto line = why.substr(0, why.find('\n'));
      core::log_warn("CUDA graphs off for this model (its capture failed: " + line.substr(0, 200) +
                     "); it runs eagerly");
      return nullptr;
    }
    ++stats_->captures;
    return c;
  }

  ModelFn model_;
  std::shared_ptr<GraphStats> stats_;
  std::map<Signature, std::unique_ptr<Captured>> graphs_;
};

}  // namespace
#endif

ModelFn graphed(ModelFn model, bool enabled, std::shared_ptr<GraphStats> stats) {
  if (!stats) stats = std::make_shared<GraphStats>();
#if FLUXION_HAVE_CUDA
  if (enabled) {
    auto graphs = std::make_shared<GraphedModel>(std::move(model), stats);
    return
        [graphs](const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& y) { return (*graphs)(x, t, y); };
  }
#else
  (void)enabled;
#endif
  return [model = std::move(model), stats](const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& y) {
    ++stats->eager_calls;
    return model(x, t, y);
  };
}

}  // namespace fluxion::samplers
