#pragma once
// LayerNorm without affine parameters followed by the adaLN modulation:
// y = LN(x) * (1 + scale) + shift, x (B, N, D), shift and scale (B, D). SiT's blocks and final
// layer compute this twice per block. Built with FLUXION_CUDA_KERNELS, CUDA tensors go through
// one fused kernel forward and two backward (models/cuda/), with the output written straight in
// autocast's dtype when autocast is on (its consumers are linear layers that would cast it);
// everywhere else it is plain_layer_norm then modulate, the same ops as before.
#include <torch/torch.h>

namespace fluxion::models {

torch::Tensor norm_modulate(const torch::Tensor& x, const torch::Tensor& shift, const torch::Tensor& scale,
                            double eps = 1e-6);

}  // namespace fluxion::models
