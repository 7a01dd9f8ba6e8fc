#include "emulated_cuda.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

thread_local uint3 threadIdx;
thread_local uint3 blockIdx;
thread_local dim3 blockDim;
thread_local dim3 gridDim;

namespace {
// Long enough for a loaded 2-core machine, short enough that a deadlocked kernel fails the test.
constexpr auto kBarrierTimeout = std::chrono::seconds(120);
constexpr int kWarpSize = 32;
constexpr int kMaxThreadsPerBlock = 1024;

cudaError_t last_error = cudaSuccess;
std::atomic<int64_t> launches{0};

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "kernel emulation: %s\n", what.c_str());
  std::abort();
}

// A barrier whose participants may leave (a thread that returns from the kernel no longer holds
// the others back, as on the GPU).
class Barrier {
 public:
  void arm(int participants) {
    std::lock_guard<std::mutex> lock(mutex_);
    expected_ = participants;
    arrived_ = 0;
  }

  // The last to arrive runs `on_release` before anyone passes.
  void arrive_and_wait(const char* what, const std::function<void()>& on_release = {}) {
    std::unique_lock<std::mutex> lock(mutex_);
    const uint64_t generation = generation_;
    if (++arrived_ == expected_) {
      if (on_release) on_release();
      release();
      return;
    }
    if (!released_.wait_for(lock, kBarrierTimeout, [&] { return generation_ != generation; }))
      fail(std::string(what) + ": not every thread arrived within 120 s (a barrier under divergent control flow?)");
  }

  void leave() {
    std::lock_guard<std::mutex> lock(mutex_);
    --expected_;
    if (arrived_ > 0 && arrived_ == expected_) release();
  }

 private:
  void release() {
    arrived_ = 0;
    ++generation_;
    released_.notify_all();
  }

  std::mutex mutex_;
  std::condition_variable released_;
  int expected_ = 0, arrived_ = 0;
  uint64_t generation_ = 0;
};

struct Warp {
  int lanes = 0;
  Barrier barrier;
  unsigned char slots[kWarpSize][8] = {};
  std::atomic<bool> live[kWarpSize] = {};
};

struct Launch {
  int threads = 0;
  Barrier block_sync;  // __syncthreads
  Barrier block_end;   // every thread has finished the block: the next one may start
  std::vector<std::unique_ptr<Warp>> warps;

  void arm_block() {
    block_sync.arm(threads);
    for (size_t w = 0; w < warps.size(); ++w) {
      auto& warp = *warps[w];
      warp.barrier.arm(warp.lanes);
      for (int lane = 0; lane < warp.lanes; ++lane) warp.live[lane] = true;
    }
  }
};

thread_local Launch* current_launch = nullptr;
thread_local int current_thread = 0;  // linear index in the block

void run_thread(Launch& launch, dim3 grid, dim3 block, int linear, const std::function<void()>& body) {
  current_launch = &launch;
  current_thread = linear;
  blockDim = block;
  gridDim = grid;
  threadIdx.x = linear % block.x;
  threadIdx.y = (linear / block.x) % block.y;
  threadIdx.z = linear / (block.x * block.y);
  Warp& warp = *launch.warps[linear / kWarpSize];
  for (unsigned z = 0; z < grid.z; ++z)
    for (unsigned y = 0; y < grid.y; ++y)
      for (unsigned x = 0; x < grid.x; ++x) {
        blockIdx.x = x;
        blockIdx.y = y;
        blockIdx.z = z;
        body();
        warp.live[linear % kWarpSize] = false;
        warp.barrier.leave();
        launch.block_sync.leave();
        launch.block_end.arrive_and_wait("end of block", [&] { launch.arm_block(); });
      }
  current_launch = nullptr;
}
}  // namespace

cudaError_t cudaGetLastError() {
  const cudaError_t error = last_error;
  last_error = cudaSuccess;
  return error;
}

const char* cudaGetErrorString(cudaError_t error) {
  return error == cudaSuccess ? "no error" : "invalid configuration argument";
}

namespace fluxion::kernel_emulation {

void run_grid(dim3 grid, dim3 block, const std::function<void()>& body) {
  const int64_t threads = static_cast<int64_t>(block.x) * block.y * block.z;
  if (threads < 1 || threads > kMaxThreadsPerBlock || grid.x == 0 || grid.y == 0 || grid.z == 0) {
    last_error = cudaErrorInvalidConfiguration;  // as the runtime reports a bad launch
    return;
  }
  ++launches;
  Launch launch;
  launch.threads = static_cast<int>(threads);
  for (int first = 0; first < launch.threads; first += kWarpSize) {
    launch.warps.push_back(std::make_unique<Warp>());
    launch.warps.back()->lanes = std::min(kWarpSize, launch.threads - first);
  }
  launch.arm_block();
  launch.block_end.arm(launch.threads);
  std::vector<std::thread> pool;
  pool.reserve(static_cast<size_t>(threads));
  for (int t = 0; t < launch.threads; ++t)
    pool.emplace_back([&launch, &body, grid, block, t] { run_thread(launch, grid, block, t, body); });
  for (auto& thread : pool) thread.join();
}

void sync_block() {
  if (!current_launch) fail("__syncthreads outside a kernel");
  current_launch->block_sync.arrive_and_wait("__syncthreads");
}

void exchange_in_warp(const void* mine, void* partners, int partner_lane, int bytes) {
  if (!current_launch) fail("warp shuffle outside a kernel");
  Warp& warp = *current_launch->warps[current_thread / kWarpSize];
  const int lane = current_thread % kWarpSize;
  std::memcpy(warp.slots[lane], mine, static_cast<size_t>(bytes));
  warp.barrier.arrive_and_wait("warp shuffle");
  if (partner_lane >= warp.lanes || !warp.live[partner_lane])
    fail("warp shuffle from lane " + std::to_string(partner_lane) + ", which " +
         (partner_lane >= warp.lanes ? "the block does not have" : "has returned from the kernel"));
  std::memcpy(partners, warp.slots[partner_lane], static_cast<size_t>(bytes));
  warp.barrier.arrive_and_wait("warp shuffle");
}

int64_t launch_count() { return launches; }

}  // namespace fluxion::kernel_emulation
