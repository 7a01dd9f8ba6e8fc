#pragma once
// CUDA kernels of LINA's local term: a depthwise K x K convolution (padding K / 2, per-channel
// weight and bias) over the token grid, added to attention's output. They work on the (B, N, C)
// token layout itself, where the unfused path transposes to (B, C, h, w) for cuDNN and back, and
// adds the result in another pass. Plain C++ launch functions on raw pointers;
// models/fused_depthwise_conv.cpp dispatches tensors to them. Built only with FLUXION_CUDA_KERNELS.
#include <cuda_runtime_api.h>

#include <cstdint>

#include "models/cuda/dtype.h"

namespace fluxion::models::cuda {

struct DepthwiseConvShape {
  int64_t samples = 0;   // B
  int64_t tokens = 0;    // N = prefix + grid_h * grid_w
  int64_t prefix = 0;    // leading tokens outside the grid (in-context tokens): not convolved
  int64_t grid_h = 0;    // token rows
  int64_t grid_w = 0;    // token columns
  int64_t channels = 0;  // C
  int kernel_size = 0;   // K: 3, 5 or 7
};

inline bool depthwise_kernel_size_supported(int64_t k) { return k == 3 || k == 5 || k == 7; }

// out (B, N, C) in out_type = base + conv(x) on the grid tokens, base alone on the prefix; the sum
// in float32, rounded once. weight (C, K, K) and bias (C, or null for none) float32.
void depthwise_conv_add_forward(const void* base, Dtype base_type, const void* x, Dtype x_type, const float* weight,
                                const float* bias, void* out, Dtype out_type, const DepthwiseConvShape& shape,
                                cudaStream_t stream);

// dx (B, N, C) in x_type from the upstream gradient (B, N, C): the transposed convolution on the
// grid tokens, zero on the prefix.
void depthwise_conv_backward_input(const void* grad, Dtype grad_type, const float* weight, void* dx, Dtype x_type,
                                   const DepthwiseConvShape& shape, cudaStream_t stream);

// How many partial sums depthwise_conv_backward_weight writes per channel and tap (its grid's
// second dimension; the caller sums them, so the result does not depend on scheduling).
int64_t depthwise_conv_weight_splits(const DepthwiseConvShape& shape);

// partial (splits, K * K + 1, C) float32: per split, the weight gradient's K * K taps and, last,
// the bias gradient (sums over the samples' grid tokens of grad * shifted x, and of grad).
void depthwise_conv_backward_weight(const void* grad, Dtype grad_type, const void* x, Dtype x_type, float* partial,
                                    const DepthwiseConvShape& shape, cudaStream_t stream);

}  // namespace fluxion::models::cuda
