#pragma once
// A module's state dict (parameters and persistent buffers under their registered names) and the
// strict loader that checks names and shapes against it before copying anything.
#include <torch/torch.h>

#include <string>

#include "core/safetensors.h"

namespace fluxion::models {

core::TensorMap module_state(const torch::nn::Module& module);

// Copies `tensors` into `module`. Names and shapes must match exactly (integer buffers such as
// BatchNorm's num_batches_tracked may be absent); otherwise throws one fluxion::Error line naming
// `source` and `what` (the model) and the first few missing, unexpected and misshapen entries.
// Dtypes are converted to the module's.
void load_module_state(torch::nn::Module& module, const core::TensorMap& tensors, const std::string& source,
                       const std::string& what);

}  // namespace fluxion::models
