#pragma once
// CUDA kernels of the rotary position embedding y = x cos + rotate_half(x) sin, rotate_half mapping
// each channel pair (a, b) to (-b, a), on x (B, H, N, d) with float32 tables (N, d): one pass
// forward and one backward, computed in float32 and rounded once, where the unfused ops copy x
// into pairs, stack a rotated copy and make two products and a sum. Plain C++ launch functions on
// raw pointers; models/rope.cpp dispatches tensors to them. Built only with FLUXION_CUDA_KERNELS.
#include <cuda_runtime_api.h>

#include <cstdint>

#include "models/cuda/dtype.h"

namespace fluxion::models::cuda {

struct RopeShape {
  int64_t batch = 0, heads = 0, tokens = 0, dim = 0;  // B, H, N, d (d even)
  // strides of the input, in elements; its channels are contiguous
  int64_t batch_stride = 0, head_stride = 0, token_stride = 0;
};

// The shape of a (B, H, N, d) tensor from its 4 sizes and 4 strides (the last stride is 1).
inline RopeShape rope_shape(const int64_t* sizes, const int64_t* strides) {
  return {sizes[0], sizes[1], sizes[2], sizes[3], strides[0], strides[1], strides[2]};
}

// y (B, H, N, d) contiguous, in the input's type.
void rope_forward(const void* x, Dtype type, const float* cos, const float* sin, void* y, const RopeShape& shape,
                  cudaStream_t stream);

// dx (B, H, N, d) contiguous from dy (strided as `shape` says), both in `type`: the transpose of
// the forward rotation, dx_a = dy_a cos_a + dy_b sin_b, dx_b = dy_b cos_b - dy_a sin_a.
void rope_backward(const void* dy, Dtype type, const float* cos, const float* sin, void* dx, const RopeShape& shape,
                   cudaStream_t stream);

}  // namespace fluxion::models::cuda
