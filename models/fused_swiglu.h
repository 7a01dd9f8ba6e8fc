#pragma once
// JiT's SwiGLU activation silu(a) * b, [a, b] the two halves of the w12 projection, as one CUDA
// kernel forward and one backward (models/cuda/swiglu_kernels.h), computed in float32 and rounded
// once to the projection's type.
#include <torch/torch.h>

#include <optional>

namespace fluxion::models {

// x (..., 2h) -> (..., h), or nothing when the kernels do not apply: a build without
// FLUXION_CUDA_KERNELS or with them switched off, x off the GPU, or a type other than float32 and bf16.
std::optional<torch::Tensor> fused_swiglu(const torch::Tensor& x);

}  // namespace fluxion::models
