#pragma once
// LINA-style bidirectional linear attention, the core without projections.
//
//   phi(x) = ReLU(x) + 1e-6
//   k~_j = gk_j * phi(k_j),  v~_j = gv_j * v_j            (KV gate, per head and token)
//   S = (1/N) sum_j k~_j v~_j^T  (d x d),  m = (1/N) sum_j k~_j
//   o_i = phi(q_i)^T S / (phi(q_i)^T m + 1e-6)
//
// The sums and the division run in float32 (float64 when the inputs are float64) with autocast
// off; the cost is linear in N: no N x N matrix is ever formed. Built with FLUXION_CUDA_KERNELS,
// CUDA inputs take fused kernels for the elementwise parts (models/fused_linear_attention.h).
#include <torch/torch.h>

namespace fluxion::models {

struct LinearAttentionEps {
  double feature = 1e-6;      // added after ReLU
  double denominator = 1e-6;  // added to the mean-normalised denominator
};

// q, k, v: (B, H, N, d). key_gate, value_gate: (1, H, N, 1) or undefined (no gate); key_gate
// must be positive. Returns (B, H, N, d) in the compute dtype (float32 or float64).
torch::Tensor linear_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                               const torch::Tensor& key_gate = {}, const torch::Tensor& value_gate = {},
                               LinearAttentionEps eps = {});

// The same normalised attention formed explicitly as an N x N weight matrix; for tests only.
torch::Tensor linear_attention_naive(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                     const torch::Tensor& key_gate = {}, const torch::Tensor& value_gate = {},
                                     LinearAttentionEps eps = {});

}  // namespace fluxion::models
