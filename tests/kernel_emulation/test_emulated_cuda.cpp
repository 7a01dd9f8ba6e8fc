// tests/kernel_emulation/emulated_cuda.h: the CPU emulation keeps CUDA's semantics for what
// fluxion's kernels use: thread and block indices, shared memory with __syncthreads, warp
// shuffles, and the runtime's error for a bad launch configuration.
#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <numeric>
#include <vector>

#include "emulated_cuda.h"

namespace {
constexpr int kTile = 64;

// each block reverses its tile through shared memory and sums each warp's values by shuffles
__global__ void reverse_tiles_and_sum_warps(const float* in, float* reversed, float* warp_sums) {
  __shared__ float tile[kTile];
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  tile[threadIdx.x] = in[i];
  __syncthreads();
  reversed[i] = tile[blockDim.x - 1 - threadIdx.x];
  float value = in[i];
  for (int offset = 16; offset > 0; offset >>= 1) value += __shfl_xor_sync(0xffffffffu, value, offset);
  if ((threadIdx.x & 31) == 0) warp_sums[i / 32] = value;
}

__global__ void record_indices(int* out) {
  const unsigned block = blockIdx.x + gridDim.x * blockIdx.y;
  const unsigned thread = threadIdx.x + blockDim.x * threadIdx.y;
  out[block * blockDim.x * blockDim.y + thread] = static_cast<int>(1000 * block + 10 * threadIdx.y + threadIdx.x);
}

// threads past `n` return before the barrier, as guarded kernels do; the rest still meet
__global__ void shift_left_with_early_exit(const float* in, float* out, int n) {
  __shared__ float tile[kTile];
  const int i = static_cast<int>(threadIdx.x);
  if (i >= n) return;
  tile[i] = in[i];
  __syncthreads();
  out[i] = tile[(i + 1) % n];
}
// half the warp shuffles while the other half waits at __syncthreads: neither can finish
__global__ void split_warp(float* out) {
  float value = 1.0f;
  if (threadIdx.x < 16)
    value = __shfl_xor_sync(0xffffffffu, value, 1);
  else
    __syncthreads();
  out[threadIdx.x] = value;
}
}  // namespace

TEST_CASE("emulated kernels see CUDA's shared memory, barriers and warp shuffles", "[unit][kernels]") {
  const int blocks = 3;
  std::vector<float> in(blocks * kTile);
  std::iota(in.begin(), in.end(), 1.0f);
  std::vector<float> reversed(in.size(), -1.0f), warp_sums(in.size() / 32, -1.0f);
  const int64_t launches = fluxion::kernel_emulation::launch_count();
  fluxion_emulated_launch(blocks, kTile, reverse_tiles_and_sum_warps)(in.data(), reversed.data(), warp_sums.data());
  CHECK(cudaGetLastError() == cudaSuccess);
  CHECK(fluxion::kernel_emulation::launch_count() == launches + 1);
  for (int b = 0; b < blocks; ++b)
    for (int t = 0; t < kTile; ++t) CHECK(reversed[b * kTile + t] == in[b * kTile + kTile - 1 - t]);
  for (size_t w = 0; w < warp_sums.size(); ++w) {
    const float first = in[w * 32];  // 32 consecutive integers from `first`
    CHECK(warp_sums[w] == 32 * first + 31 * 32 / 2);
  }
}

TEST_CASE("emulated kernels get every block and thread index once", "[unit][kernels]") {
  const dim3 grid(3, 2), block(8, 4);
  std::vector<int> out(3 * 2 * 8 * 4, -1);
  fluxion_emulated_launch(grid, block, record_indices)(out.data());
  for (unsigned b = 0; b < 6; ++b)
    for (unsigned y = 0; y < 4; ++y)
      for (unsigned x = 0; x < 8; ++x) CHECK(out[b * 32 + y * 8 + x] == static_cast<int>(1000 * b + 10 * y + x));
}

TEST_CASE("emulated barriers let returned threads go, as the GPU does", "[unit][kernels]") {
  std::vector<float> in = {1, 2, 3, 4, 5}, out(5, 0.0f);
  fluxion_emulated_launch(1, kTile, shift_left_with_early_exit)(in.data(), out.data(), 5);
  CHECK(out == std::vector<float>{2, 3, 4, 5, 1});
}

TEST_CASE("an emulated launch with too many threads fails as CUDA's does", "[unit][kernels]") {
  std::vector<int> out(1, -1);
  const int64_t launches = fluxion::kernel_emulation::launch_count();
  fluxion_emulated_launch(1, 2048, record_indices)(out.data());
  CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration);
  CHECK(cudaGetLastError() == cudaSuccess);  // reading the error clears it
  CHECK(fluxion::kernel_emulation::launch_count() == launches);
  CHECK(out[0] == -1);
}

TEST_CASE("an emulated kernel whose threads never meet at a barrier aborts instead of hanging", "[unit][kernels]") {
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    std::freopen("/dev/null", "w", stderr);  // the abort's message and the report of this child
    std::freopen("/dev/null", "w", stdout);
    std::vector<float> out(32);
    fluxion_emulated_launch(1, 32, split_warp)(out.data());
    _exit(0);  // the launch returned: the emulation missed the deadlock
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  CHECK(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGABRT);
}
