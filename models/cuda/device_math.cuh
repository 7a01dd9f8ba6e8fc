#pragma once
// Device helpers shared by fluxion's kernels: float32 <-> storage type conversions that round as
// LibTorch does, a block-wide sum, and the launch check. Included by the .cu files only.
#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <stdexcept>
#include <string>

namespace fluxion::models::cuda {

__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename T>
__device__ __forceinline__ T from_float(float v);
template <>
__device__ __forceinline__ float from_float<float>(float v) {
  return v;
}
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) {
  return __float2bfloat16(v);  // round to nearest even, as LibTorch's casts
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024, blockDim.y == 1); every thread
// gets the total.
__device__ __forceinline__ float block_sum(float value) {
  __shared__ float partial[32];
  __shared__ float total;
  for (int offset = 16; offset > 0; offset >>= 1) value += __shfl_xor_sync(0xffffffffu, value, offset);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) partial[warp] = value;
  __syncthreads();
  if (warp == 0) {
    value = lane < static_cast<int>(blockDim.x >> 5) ? partial[lane] : 0.0f;
    for (int offset = 16; offset > 0; offset >>= 1) value += __shfl_xor_sync(0xffffffffu, value, offset);
    if (lane == 0) total = value;
  }
  __syncthreads();
  const float result = total;
  __syncthreads();  // partial and total are reused by the next call
  return result;
}

inline void check_launch(const char* what) {
  const cudaError_t status = cudaGetLastError();
  if (status != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(status));
}

}  // namespace fluxion::models::cuda

// Runs the code after ALIAS with ALIAS the C++ type of TYPE, a cuda::Dtype (LibTorch's
// AT_DISPATCH pattern: the code is a lambda, passed through __VA_ARGS__ because its commas are not
// in parentheses).
#define FLUXION_DISPATCH_DTYPE(TYPE, ALIAS, ...) \
  do {                                           \
    if ((TYPE) == Dtype::Float32) {              \
      using ALIAS = float;                       \
      __VA_ARGS__();                             \
    } else {                                     \
      using ALIAS = __nv_bfloat16;               \
      __VA_ARGS__();                             \
    }                                            \
  } while (0)
