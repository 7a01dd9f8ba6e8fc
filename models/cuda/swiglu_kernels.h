#pragma once
// CUDA kernels of JiT's SwiGLU activation, silu(a) * b over the two halves [a, b] of the w12
// projection, forward and backward each in one pass computed in float32, where the unfused ops
// make silu(a), the product, and in backward two products, SiLU's derivative and the
// concatenation of the halves' gradients. Plain C++ launch functions on raw pointers;
// models/fused_swiglu.cpp dispatches tensors to them. Built only with FLUXION_CUDA_KERNELS.
#include <cuda_runtime_api.h>

#include <cstdint>

#include "models/cuda/dtype.h"

namespace fluxion::models::cuda {

// x (rows, 2h) contiguous -> y (rows, h) contiguous, both in `type`.
void swiglu_forward(const void* x, void* y, Dtype type, int64_t rows, int64_t hidden, cudaStream_t stream);

// dx (rows, 2h) in `type` from dy (rows, h) and x (rows, 2h), all contiguous.
void swiglu_backward(const void* dy, const void* x, void* dx, Dtype type, int64_t rows, int64_t hidden,
                     cudaStream_t stream);

}  // namespace fluxion::models::cuda
