#pragma once
// The golden files' deterministic fill rule (shared/golden/README.md): weights too large to ship
// are regenerated bit-exactly from their state-dict names with FNV-1a-64 seeds and SplitMix64.
#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace fluxion::metrics {

uint64_t fnv1a_64(const std::string& text);

// The float32 tensor the rule gives for `name` with `shape`. `gain` scales tensors of 2 or more
// dimensions (sqrt(2) for the Inception golden file, 1 otherwise).
torch::Tensor fill_tensor(const std::string& name, at::IntArrayRef shape, double gain = 1.0);

using NamedShapes = std::vector<std::pair<std::string, std::vector<int64_t>>>;
std::map<std::string, torch::Tensor> fill_state_dict(const NamedShapes& names_and_shapes, double gain = 1.0);

// Overwrites every floating-point parameter and buffer of `module` (integer buffers such as
// num_batches_tracked are left alone) with the rule's values, in place.
void fill_module(torch::nn::Module& module, double gain = 1.0);

}  // namespace fluxion::metrics
