#pragma once
// What the autograd functions around fluxion's CUDA kernels (models/cuda/) share: which tensors
// the kernels take, their element type as the kernels name it, and the stream to launch on.
// Included only where FLUXION_CUDA_KERNELS is set.
#include <ATen/cuda/CUDAContext.h>
#include <torch/torch.h>

#include "models/cuda/dtype.h"

namespace fluxion::models::kernel_tensors {

// float32 and bf16: the types the kernels are built for
inline bool supported_type(const torch::Tensor& t) {
  return t.scalar_type() == torch::kFloat || t.scalar_type() == torch::kBFloat16;
}

inline cuda::Dtype kernel_type(c10::ScalarType type) {
  return type == torch::kFloat ? cuda::Dtype::Float32 : cuda::Dtype::BFloat16;
}
inline cuda::Dtype kernel_type(const torch::Tensor& t) { return kernel_type(t.scalar_type()); }

// LibTorch's current stream: graph capture and the autograd engine's backward stream included.
inline cudaStream_t stream() { return at::cuda::getCurrentCUDAStream(); }

}  // namespace fluxion::models::kernel_tensors
