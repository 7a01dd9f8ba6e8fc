#pragma once
// LINA linear attention (models/linear_attention.h) with its elementwise parts as CUDA kernels
// (models/cuda/linear_attention_kernels.h): the feature maps and KV gates in one pass, the two
// state products as float32 GEMMs, the division in one pass, and the same forward and backward.
#include <torch/torch.h>

#include <optional>

#include "models/linear_attention.h"

namespace fluxion::models {

// The float32 result of linear_attention(q, k, v, key_gate, value_gate, eps), or nothing when the
// kernels do not apply: a build without FLUXION_CUDA_KERNELS or with them switched off, tensors off
// the GPU, q, k, v not of one type among float32 and bf16, or gates not shaped (1, H, N, 1).
std::optional<torch::Tensor> fused_linear_attention(const torch::Tensor& q, const torch::Tensor& k,
                                                    const torch::Tensor& v, const torch::Tensor& key_gate,
                                                    const torch::Tensor& value_gate, const LinearAttentionEps& eps);

}  // namespace fluxion::models
