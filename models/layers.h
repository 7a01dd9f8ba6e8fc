#pragma once
// Small layers of the transformer blocks: RMSNorm, the GELU MLP (SiT) and SwiGLU (JiT), the
// adaLN helpers, and the final layer with unpatchify.
#include "core/compat.h"

#include <torch/torch.h>

namespace fluxion::models {

// x * (1 + scale) + shift with (B, D) conditioning broadcast over tokens: (B, N, D) -> (B, N, D).
// On CUDA under autocast without autograd (sampling) the result comes in autocast's dtype: its
// consumers are linear layers that would cast it.
torch::Tensor modulate(const torch::Tensor& x, const torch::Tensor& shift, const torch::Tensor& scale);

// The adaLN-Zero residual x + gate * y, gate (B, D) broadcast over the tokens of x, y (B, N, D).
// Built with FLUXION_CUDA_KERNELS, its backward on CUDA is one kernel (models/fused_gated_residual.h).
torch::Tensor gated_residual(const torch::Tensor& x, const torch::Tensor& gate, const torch::Tensor& y);

// LayerNorm without affine parameters (SiT's norm1/norm2/norm_final), eps 1e-6.
torch::Tensor plain_layer_norm(const torch::Tensor& x, double eps = 1e-6);

// RMSNorm as Llama's: x in float32 times the reciprocal root mean square over the last dimension,
// times weight (D), cast back to x's type.
torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps);

// Llama RMSNorm: computed in float32, `weight` (init 1) applied in float32, cast back.
class RMSNormImpl : public torch::nn::Module {
 public:
  explicit RMSNormImpl(int64_t dim, double eps = 1e-6);
  torch::Tensor forward(const torch::Tensor& x);

  torch::Tensor weight;
  double eps;
};
TORCH_MODULE(RMSNorm);

// timm Mlp: fc1 -> tanh-GELU -> fc2 (names `fc1`, `fc2`). Without autograd on CUDA, fc1's bias
// and the GELU run in the GEMM's epilogue (linear_gelu_cuda).
class MlpImpl : public torch::nn::Module {
 public:
  MlpImpl(int64_t dim, int64_t hidden);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(Mlp);

// JiT SwiGLU: w12 = Linear(D, 2h), silu(x1) * x2, dropout, w3 = Linear(h, D), with
// h = int(hidden * 2 / 3) (hidden = mlp_ratio * D). Built with FLUXION_CUDA_KERNELS, the
// activation on CUDA is one kernel each way (models/fused_swiglu.h).
class SwiGLUImpl : public torch::nn::Module {
 public:
  SwiGLUImpl(int64_t dim, int64_t hidden, double dropout);
  torch::Tensor forward(const torch::Tensor& x);
  static int64_t inner_width(int64_t hidden) { return static_cast<int64_t>(hidden * 2.0 / 3.0); }

  torch::nn::Linear w12{nullptr}, w3{nullptr};
  torch::nn::Dropout ffn_dropout{nullptr};
};
TORCH_MODULE(SwiGLU);

// x W^T + b through at::linear, which folds the bias into the GEMM for inputs of any rank, as
// Python's nn.Linear does. LibTorch's nn::Linear::forward runs matmul and then a separate `+= bias`
// over the whole output for 3-D input: one extra memory-bound kernel per layer (issue 13).
torch::Tensor linear(const torch::nn::LinearImpl& layer, const torch::Tensor& x);
inline torch::Tensor linear(const torch::nn::Linear& layer, const torch::Tensor& x) { return linear(*layer, x); }

#if FLUXION_TORCH2
// gelu(x W^T + b, tanh) as one cuBLASLt GEMM with a GELU epilogue (at::_addmm_activation), for
// CUDA tensors without autograd; inputs and weights in autocast's dtype when it is on.
torch::Tensor linear_gelu_cuda(const torch::nn::LinearImpl& layer, const torch::Tensor& x);
#endif

// SiLU -> Linear(D, chunks * D); registered as `adaLN_modulation` so the Linear is `.1`.
torch::nn::Sequential make_adaln_modulation(int64_t hidden_size, int64_t chunks);
// The adaLN_modulation Sequential applied to the conditioning: (B, D) -> (B, chunks * D).
torch::Tensor adaln_forward(torch::nn::Sequential& adaln, const torch::Tensor& c);

// adaLN final layer: norm -> modulate(shift, scale) -> Linear(D, p*p*C). The norm is a plain
// LayerNorm (SiT) or an RMSNorm `norm_final` with a weight (JiT). Names `linear`, `adaLN_modulation`.
class FinalLayerImpl : public torch::nn::Module {
 public:
  FinalLayerImpl(int64_t hidden_size, int64_t patch_size, int64_t out_channels, bool rms_norm);
  // x (B, N, D), c (B, D) -> (B, N, p*p*C)
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& c);
  void zero_like_reference();  // adaLN and linear zeroed

  RMSNorm norm_final{nullptr};
  torch::nn::Linear linear{nullptr};
  torch::nn::Sequential adaLN_modulation{nullptr};
};
TORCH_MODULE(FinalLayer);

// The final layer's tokens back to an image: (B, N, p*p*c) -> (B, c, h*p, w*p) for a row-major
// h x w token grid.
torch::Tensor unpatchify(const torch::Tensor& x, int64_t patch_size, int64_t channels, int64_t grid_h, int64_t grid_w);

// Xavier-uniform weights and zero biases for every Linear below `module` (reference _basic_init).
void init_linears_xavier(torch::nn::Module& module);

// Zero the Linear at index 1 of an adaLN_modulation Sequential.
void zero_adaln(torch::nn::Sequential& adaln);

}  // namespace fluxion::models
