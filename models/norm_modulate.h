#pragma once
// A normalisation followed by the adaLN modulation, y = norm(x) * (1 + scale) + shift, x (B, N, D),
// shift and scale (B, D): LayerNorm without affine parameters in SiT's blocks and final layer,
// RMSNorm with its weight in JiT's. Built with FLUXION_CUDA_KERNELS (and not switched off, see
// models/fused_kernels.h), CUDA tensors go through one fused kernel forward and two backward
// (models/cuda/), with the output written straight in autocast's dtype when autocast is on (its
// consumers are linear layers that would cast it); everywhere else these are the unfused ops.
#include <torch/torch.h>

namespace fluxion::models {

// modulate(plain_layer_norm(x, eps), shift, scale)
torch::Tensor norm_modulate(const torch::Tensor& x, const torch::Tensor& shift, const torch::Tensor& scale,
                            double eps = 1e-6);

// modulate(rms_norm(x, weight, eps), shift, scale), weight (D)
torch::Tensor rms_norm_modulate(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& shift,
                                const torch::Tensor& scale, double eps = 1e-6);

}  // namespace fluxion::models
