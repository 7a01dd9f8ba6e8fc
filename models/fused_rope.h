#pragma once
// The rotary position embedding (models/pos_embed.h: apply_rope) as one CUDA kernel forward and
// one backward (models/cuda/rope_kernels.h), computed in float32 from the float32 tables and
// rounded once to x's type: under bf16 autocast that is the value upstream's JiT hands to the
// attention (its tables are float32, so its product is float32 until SDPA casts it).
#include <torch/torch.h>

#include <optional>

#include "models/pos_embed.h"

namespace fluxion::models {

// x (B, H, N, d) -> (B, H, N, d) contiguous, or nothing when the kernels do not apply: a build
// without FLUXION_CUDA_KERNELS, x off the GPU, a type other than float32 and bf16, or tables
// that do not match x's tokens and channels.
std::optional<torch::Tensor> fused_rope(const torch::Tensor& x, const RopeTables& rope);

}  // namespace fluxion::models
