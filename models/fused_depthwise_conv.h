#pragma once
// LINA's local term, attention output + depthwise convolution of the attention input over the
// token grid (models/attention.cpp): as CUDA kernels on the (B, N, C) layout with their backward
// (models/cuda/depthwise_conv_kernels.h), or unfused (cuDNN on a transposed copy plus an addition).
#include <torch/torch.h>

#include <optional>

namespace fluxion::models {

// base (B, N, C) + conv(x (B, N, C)) on the last grid_h * grid_w tokens (the first N - grid_h *
// grid_w keep base), with conv's weight (C, 1, K, K) and bias (C, or undefined); the result in
// autocast's type if active, else the promoted one. Nothing when the kernels do not apply: a build
// without FLUXION_CUDA_KERNELS, tensors off the GPU, types other than float32 and bf16, K not 3, 5
// or 7, or shapes that do not match.
std::optional<torch::Tensor> fused_depthwise_conv_add(const torch::Tensor& base, const torch::Tensor& x,
                                                      const torch::Tensor& weight, const torch::Tensor& bias,
                                                      int64_t grid_h, int64_t grid_w);

// The same sum unfused, as LINA's reference computes it: conv2d on the grid tokens transposed to
// (B, C, h, w), transposed back, zero rows for the prefix, added to base. Any dtype.
torch::Tensor depthwise_conv_add_unfused(const torch::Tensor& base, const torch::Tensor& x, const torch::Tensor& weight,
                                         const torch::Tensor& bias, int64_t grid_h, int64_t grid_w);

// The fused sum where the kernels apply, else the unfused one.
torch::Tensor depthwise_conv_add(const torch::Tensor& base, const torch::Tensor& x, const torch::Tensor& weight,
                                 const torch::Tensor& bias, int64_t grid_h, int64_t grid_w);

}  // namespace fluxion::models
