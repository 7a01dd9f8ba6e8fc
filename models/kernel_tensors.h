#pragma once
// What the autograd functions around fluxion's CUDA kernels (models/cuda/) share: which tensors
// the kernels take, their element type as the kernels name it, how a strided input is laid out for
// them, and the stream to launch on. Included where FLUXION_CUDA_KERNELS is set and by the test
// binary that runs the kernels on the CPU (tests/kernel_emulation/, FLUXION_KERNEL_EMULATION),
// where the kernels' device is the CPU.
#include <torch/torch.h>

#if FLUXION_KERNEL_EMULATION
#include <cuda_runtime_api.h>  // the emulation's stand-in
#else
#include <ATen/cuda/CUDAContext.h>
#endif

#include "models/cuda/dtype.h"

namespace fluxion::models::kernel_tensors {

// Whether t lives where the kernels run.
inline bool on_kernel_device(const torch::Tensor& t) {
#if FLUXION_KERNEL_EMULATION
  return t.is_cpu();
#else
  return t.is_cuda();
#endif
}

// float32 and bf16: the types the kernels are built for
inline bool supported_type(const torch::Tensor& t) {
  return t.scalar_type() == torch::kFloat || t.scalar_type() == torch::kBFloat16;
}

inline cuda::Dtype kernel_type(c10::ScalarType type) {
  return type == torch::kFloat ? cuda::Dtype::Float32 : cuda::Dtype::BFloat16;
}
inline cuda::Dtype kernel_type(const torch::Tensor& t) { return kernel_type(t.scalar_type()); }

// (B, H, N, d) t as the kernels read it: channels at unit stride, other strides free. Attention's
// q, k and v, permuted views of the qkv projection, qualify as they are.
inline torch::Tensor with_contiguous_channels(const torch::Tensor& t) { return t.stride(3) == 1 ? t : t.contiguous(); }

// LibTorch's current stream: graph capture and the autograd engine's backward stream included.
inline cudaStream_t stream() {
#if FLUXION_KERNEL_EMULATION
  return nullptr;
#else
  return at::cuda::getCurrentCUDAStream();
#endif
}

}  // namespace fluxion::models::kernel_tensors
