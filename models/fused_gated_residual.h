#pragma once
// The adaLN-Zero gated residual x + gate * y (models/layers.h) with its backward pass as one CUDA
// kernel (models/cuda/gated_residual_kernels.h). The forward is the same addcmul as the unfused
// path; only what autograd would run afterwards changes.
#include <torch/torch.h>

#include <optional>

namespace fluxion::models {

// x (B, N, D), gate (B, D), y (B, N, D) -> (B, N, D), or nothing when the kernel does not apply:
// a build without FLUXION_CUDA_KERNELS, tensors off the GPU, types other than float32 and bf16,
// or no gradient to compute (then the plain addcmul is all there is).
std::optional<torch::Tensor> fused_gated_residual(const torch::Tensor& x, const torch::Tensor& gate,
                                                  const torch::Tensor& y);

}  // namespace fluxion::models
