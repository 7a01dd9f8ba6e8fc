#pragma once
// CUDA kernel of the adaLN-Zero gated residual's backward pass, out = x + gate * y with the
// per-sample (B, D) gate broadcast over each sample's N tokens: one pass makes the gradient of y
// and the per-sample sums that are the gradient of the gate, where autograd's unfused backward
// makes a float32 product, casts it, makes a second product and reduces it. Plain C++ launch
// functions on raw pointers; models/gated_residual.cpp dispatches tensors to them. Built only
// with FLUXION_CUDA_KERNELS.
#include <cuda_runtime_api.h>

#include <cstdint>

#include "models/cuda/dtype.h"

namespace fluxion::models::cuda {

struct GatedResidualShape {
  int64_t samples = 0;      // B
  int64_t tokens = 0;       // N
  int64_t dim = 0;          // D
  int64_t gate_stride = 0;  // elements between two samples' gate rows (unit stride along D)
};

// From the upstream gradient `grad` (B, N, D): dy = grad * gate (B, N, D) in y_type, rounded once
// from float32, and dgate = sum over tokens of grad * y (B, D) float32.
void gated_residual_backward(const void* grad, Dtype grad_type, const void* gate, Dtype gate_type, const void* y,
                             Dtype y_type, void* dy, float* dgate, const GatedResidualShape& shape,
                             cudaStream_t stream);

}  // namespace fluxion::models::cuda
