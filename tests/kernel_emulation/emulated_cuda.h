#pragma once
// Enough of the CUDA programming model to run fluxion's kernels (models/cuda/*.cu) on the CPU, so
// that CI and GPU-less machines test them: each launch runs its blocks one after another, the
// threads of a block as fibers on the calling thread (emulated_cuda.cpp); __syncthreads is a
// barrier over the block's live threads, a warp shuffle a barrier over the warp's 32 lanes, __shared__ memory a static
// (one block runs at a time). A kernel whose threads disagree about a barrier (a __syncthreads under divergent control
// flow, a shuffle with an exited or missing lane) aborts with a message instead of hanging. What this cannot check:
// timing, occupancy, and the GPU's own float arithmetic (rsqrtf and the like are exact here).
//
// The stub headers beside this one (cuda_runtime_api.h, cuda_bf16.h) stand in for the toolkit's,
// and models/cuda/launch.h turns FLUXION_LAUNCH into fluxion_emulated_launch.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <type_traits>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static

struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct uint3 {
  unsigned x = 0, y = 0, z = 0;
};

extern thread_local uint3 threadIdx;
extern thread_local uint3 blockIdx;
extern thread_local dim3 blockDim;
extern thread_local dim3 gridDim;

using cudaStream_t = struct CUstream_st*;
enum cudaError_t { cudaSuccess = 0, cudaErrorInvalidConfiguration = 9 };
// Renamed so that a binary linked with the real runtime (a CUDA LibTorch) does not interpose its
// functions: the emulation's callers see the toolkit's names, the linker its own.
#define cudaGetLastError fluxion_emulated_cudaGetLastError
#define cudaGetErrorString fluxion_emulated_cudaGetErrorString
cudaError_t cudaGetLastError();
const char* cudaGetErrorString(cudaError_t error);

namespace fluxion::kernel_emulation {
// Runs `body` for every thread of every block of the launch.
void run_grid(dim3 grid, dim3 block, const std::function<void()>& body);
// Barrier over the calling thread's block.
void sync_block();
// __shfl_xor_sync's exchange: every lane of the warp offers `bytes` bytes and gets those of lane
// (lane ^ lane_mask) within its group of `width` lanes.
void exchange_xor_in_warp(const void* mine, void* partners, int lane_mask, int width, int bytes);
// Launches run so far (tests check that a launch function launched).
int64_t launch_count();
}  // namespace fluxion::kernel_emulation

inline void __syncthreads() { fluxion::kernel_emulation::sync_block(); }

template <typename T>
T __shfl_xor_sync(unsigned mask, T value, int lane_mask, int width = 32) {
  static_assert(std::is_trivially_copyable<T>::value && sizeof(T) <= 8, "shuffles move up to 8 bytes");
  (void)mask;
  T result;
  fluxion::kernel_emulation::exchange_xor_in_warp(&value, &result, lane_mask, width, sizeof(T));
  return result;
}

inline float rsqrtf(float v) { return 1.0f / std::sqrt(v); }

// kernel<<<grid, block, 0, stream>>>(args...) as models/cuda/launch.h spells it under emulation.
template <typename... Params>
auto fluxion_emulated_launch(dim3 grid, dim3 block, void (*kernel)(Params...)) {
  return [grid, block, kernel](auto&&... args) {
    fluxion::kernel_emulation::run_grid(grid, block, [&] { kernel(args...); });
  };
}
