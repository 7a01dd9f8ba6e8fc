#pragma once
// Copies a state dict (name -> tensor, official names) into a module's parameters and buffers.
#include <torch/torch.h>

#include <string>

#include "core/safetensors.h"

namespace fluxion::metrics {

// Every floating parameter/buffer of `module` must be present with the same shape (converted to
// its dtype and device); integer buffers (num_batches_tracked) may be absent. With `strict`,
// tensors in `weights` that the module does not have are an error too. `source` names the file.
void load_module_weights(torch::nn::Module& module, const core::TensorMap& weights,
                         const std::string& source, bool strict = true);

}  // namespace fluxion::metrics
