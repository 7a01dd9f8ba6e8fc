#pragma once
// CUDA kernels of the fused LayerNorm (no affine; SiT) or RMSNorm (JiT) + adaLN modulate,
// y = norm(x) (1 + scale) + shift, with the per-sample (B, D) shift and scale broadcast over each
// sample's N tokens. Plain C++ launch functions on raw pointers (the .cu file sees no LibTorch
// header); models/norm_modulate.cpp dispatches tensors to them. Built only with FLUXION_CUDA_KERNELS.
#include <cuda_runtime_api.h>

#include <cstdint>

#include "models/cuda/dtype.h"

namespace fluxion::models::cuda {

struct NormModulateShape {
  int64_t rows = 0;        // B * N
  int64_t dim = 0;         // D
  int64_t tokens = 0;      // N: row r belongs to sample r / N
  int64_t mod_stride = 0;  // elements between two samples' shift (and scale) rows
};

// rms_weight: RMSNorm's float32 weight (D), y = (x rstd) w (1 + scale) + shift with rstd the
// reciprocal root mean square (JiT); nullptr for LayerNorm without affine parameters (SiT).

// y (rows, D) in y_type; mean (zero for RMSNorm) and rstd (rows) float32, for the backward pass.
void norm_modulate_forward(const void* x, Dtype x_type, const float* rms_weight, const void* shift, const void* scale,
                           Dtype mod_type, void* y, Dtype y_type, float* mean, float* rstd,
                           const NormModulateShape& shape, float eps, cudaStream_t stream);

// dx (rows, D) in x_type from dy (rows, D) in dy_type.
void norm_modulate_backward_input(const void* dy, Dtype dy_type, const void* x, Dtype x_type, const float* rms_weight,
                                  const void* scale, Dtype mod_type, const float* mean, const float* rstd, void* dx,
                                  const NormModulateShape& shape, cudaStream_t stream);

// dshift and dscale (B, D) float32: the sums over each sample's tokens of dy and dy * normed, where
// normed is the normalised x times RMSNorm's weight. For RMSNorm, dweight (B, D) float32 gets each
// sample's share of the weight's gradient (sum them over B); nullptr for LayerNorm.
void norm_modulate_backward_modulation(const void* dy, Dtype dy_type, const void* x, Dtype x_type,
                                       const float* rms_weight, const void* scale, Dtype mod_type, const float* mean,
                                       const float* rstd, float* dshift, float* dscale, float* dweight,
                                       const NormModulateShape& shape, cudaStream_t stream);

}  // namespace fluxion::models::cuda
