#pragma once
// CUDA kernels of the elementwise parts of LINA linear attention (models/linear_attention.h): the
// feature maps with the KV gates, the final division, and their backward passes, each one pass
// over the (B, H, N, d) rows where the unfused ops make a float32 copy, a ReLU, an addition, a gate
// product and a concatenation per input. The two products with the d x (d + 1) state stay cuBLAS
// GEMMs. Float32 throughout (the sums and the division are where precision matters). Plain C++
// launch functions on raw pointers; models/fused_linear_attention.cpp dispatches tensors to them.
// Built only with FLUXION_CUDA_KERNELS.
#include <cuda_runtime_api.h>

#include <cstdint>

#include "models/cuda/dtype.h"

namespace fluxion::models::cuda {

struct LinearAttentionShape {
  int64_t batch = 0, heads = 0, tokens = 0, dim = 0;  // B, H, N, d
  // batch, head and token strides of q, k and v in elements; their channels are contiguous
  int64_t q_strides[3] = {}, k_strides[3] = {}, v_strides[3] = {};
};

// phi_q = relu(q) + eps and phi_k = key_gate (relu(k) + eps), (B, H, N, d); v_ones = [value_gate v, 1],
// (B, H, N, d + 1); all float32 and contiguous. Gates (H, N) float32, or nullptr for none.
void linear_attention_features(const void* q, const void* k, const void* v, Dtype type, const float* key_gate,
                               const float* value_gate, float feature_eps, float* phi_q, float* phi_k, float* v_ones,
                               const LinearAttentionShape& shape, cudaStream_t stream);

// o = num / (den + eps) from out = [num, den] (B, H, N, d + 1); o (B, H, N, d), both float32.
void linear_attention_normalize(const float* out, float denominator_eps, float* o, const LinearAttentionShape& shape,
                                cudaStream_t stream);

// The division's backward: d_out = [d_o / (den + eps), -(d_o . num) / (den + eps)^2], (B, H, N, d + 1)
// float32, from d_o (B, H, N, d) contiguous in d_o_type.
void linear_attention_normalize_backward(const void* d_o, Dtype d_o_type, const float* out, float denominator_eps,
                                         float* d_out, const LinearAttentionShape& shape, cudaStream_t stream);

// The feature maps' backward, from the gradients of phi_q, phi_k (B, H, N, d) and v_ones
// (B, H, N, d + 1): dq, dk, dv (B, H, N, d) contiguous in `type`, and, for each gate given, its
// gradient summed over the channels of each row, (B, H, N) float32 (sum over B for the gate's own).
void linear_attention_features_backward(const void* q, const void* k, const void* v, Dtype type, const float* key_gate,
                                        const float* value_gate, float feature_eps, const float* d_phi_q,
                                        const float* d_phi_k, const float* d_v_ones, void* dq, void* dk, void* dv,
                                        float* key_gate_rows, float* value_gate_rows, const LinearAttentionShape& shape,
                                        cudaStream_t stream);

}  // namespace fluxion::models::cuda
