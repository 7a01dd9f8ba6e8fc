#pragma once
// CUDA graphs for a sampler's model function. Every ODE/SDE step calls the network with inputs
// of the same shapes, so its hundreds of kernels can be captured once into a CUDA graph and then
// replayed with one launch: the first call with a new input signature (shapes, dtypes, device)
// captures, later ones copy their inputs into the captured buffers and replay. Guidance stays
// outside (it calls this function with the doubled batch, which is just another signature), and so
// do the samplers' random draws, so the results are those of eager execution.
// Off the GPU, in a LibTorch without CUDA, or when a capture fails (an op that waits for the host,
// such as .item()), the model runs eagerly; a failed capture is reported once in a warning line.
#include <memory>

#include "samplers/model_fn.h"

namespace fluxion::samplers {

// Whether this build can capture CUDA graphs (a LibTorch with CUDA).
bool cuda_graphs_available();

// Counts of what a graphed model did, for tests and bench.
struct GraphStats {
  int64_t captures = 0;         // graphs captured (one per input signature)
  int64_t replays = 0;          // calls answered by a replay
  int64_t eager_calls = 0;      // calls run eagerly (CPU inputs, graphs off, or after a failed capture)
  bool capture_failed = false;  // a capture failed: every later call runs eagerly
};

// `model` replayed from CUDA graphs when `enabled` and its inputs are on a CUDA device; it must be
// called under the same autocast and grad mode every time (they are part of the graph), and with
// no gradient (sampling). `stats`, when given, is kept up to date. The function owns its graphs
// (GPU memory of one forward pass per signature) and frees them when the last copy is destroyed.
ModelFn graphed(ModelFn model, bool enabled, std::shared_ptr<GraphStats> stats = nullptr);

}  // namespace fluxion::samplers
