// The emulation's scheduler: the threads of a block are fibers (ucontext) on the calling thread,
// switched only at barriers, so that a block of 1024 threads costs no OS threads and a barrier no
// system call. Blocks run one after another. A barrier that some live thread never reaches is
// found at once (no fiber can run) and aborts with a message.
#include "emulated_cuda.h"

#include <ucontext.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define FLUXION_EMULATION_ASAN 1
#endif

thread_local uint3 threadIdx;
thread_local uint3 blockIdx;
thread_local dim3 blockDim;
thread_local dim3 gridDim;

namespace {
constexpr int kWarpSize = 32;
constexpr int kMaxThreadsPerBlock = 1024;
constexpr size_t kFiberStack = 256 * 1024;  // the kernels are flat; room for sanitizer frames

cudaError_t last_error = cudaSuccess;
std::atomic<int64_t> launches{0};

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "kernel emulation: %s\n", what.c_str());
  std::abort();
}

// A barrier whose participants may leave: a thread that returns from the kernel no longer holds
// the others back, as on the GPU.
struct Barrier {
  int expected = 0, arrived = 0;
  std::vector<int> waiting;  // fibers parked here
};

enum class FiberState { Runnable, Waiting, Done };

struct Fiber {
  ucontext_t context{};
  std::unique_ptr<char[]> stack;
  FiberState state = FiberState::Runnable;
  uint3 index;
#if FLUXION_EMULATION_ASAN
  void* fake_stack = nullptr;
#endif
};

struct Warp {
  int lanes = 0;
  Barrier barrier;
  unsigned char slots[kWarpSize][8] = {};
  bool live[kWarpSize] = {};
};

struct Launch {
  std::vector<Fiber> fibers;
  std::vector<Warp> warps;
  Barrier block_sync;
  ucontext_t scheduler{};
  int current = -1;
  const std::function<void()>* body = nullptr;
#if FLUXION_EMULATION_ASAN
  void* scheduler_fake_stack = nullptr;
  const void* scheduler_stack_bottom = nullptr;
  size_t scheduler_stack_size = 0;
#endif
};

thread_local Launch* active = nullptr;

void switch_to_scheduler(Launch& launch, bool finished) {
  Fiber& fiber = launch.fibers[launch.current];
#if FLUXION_EMULATION_ASAN
  __sanitizer_start_switch_fiber(finished ? nullptr : &fiber.fake_stack, launch.scheduler_stack_bottom,
                                 launch.scheduler_stack_size);
#endif
  if (finished) {
    setcontext(&launch.scheduler);
    fail("setcontext returned");
  }
  swapcontext(&fiber.context, &launch.scheduler);
#if FLUXION_EMULATION_ASAN
  __sanitizer_finish_switch_fiber(fiber.fake_stack, &launch.scheduler_stack_bottom, &launch.scheduler_stack_size);
#endif
}

void release(Launch& launch, Barrier& barrier) {
  barrier.arrived = 0;
  for (int fiber : barrier.waiting) launch.fibers[fiber].state = FiberState::Runnable;
  barrier.waiting.clear();
}

void wait_at(Launch& launch, Barrier& barrier) {
  if (++barrier.arrived == barrier.expected) {
    release(launch, barrier);
    return;
  }
  launch.fibers[launch.current].state = FiberState::Waiting;
  barrier.waiting.push_back(launch.current);
  switch_to_scheduler(launch, false);
}

void leave(Launch& launch, Barrier& barrier) {
  --barrier.expected;
  if (barrier.arrived > 0 && barrier.arrived == barrier.expected) release(launch, barrier);
}

Warp& warp_of_current(Launch& launch) { return launch.warps[launch.current / kWarpSize]; }

void fiber_main() {
  Launch& launch = *active;
#if FLUXION_EMULATION_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &launch.scheduler_stack_bottom, &launch.scheduler_stack_size);
#endif
  (*launch.body)();
  Warp& warp = warp_of_current(launch);
  warp.live[launch.current % kWarpSize] = false;
  leave(launch, warp.barrier);
  leave(launch, launch.block_sync);
  launch.fibers[launch.current].state = FiberState::Done;
  switch_to_scheduler(launch, true);
}

void run_block(Launch& launch) {
  const int threads = static_cast<int>(launch.fibers.size());
  launch.block_sync = Barrier{threads, 0, {}};
  for (auto& warp : launch.warps) {
    warp.barrier = Barrier{warp.lanes, 0, {}};
    for (int lane = 0; lane < warp.lanes; ++lane) warp.live[lane] = true;
  }
  for (auto& fiber : launch.fibers) {
    fiber.state = FiberState::Runnable;
    getcontext(&fiber.context);
    fiber.context.uc_stack.ss_sp = fiber.stack.get();
    fiber.context.uc_stack.ss_size = kFiberStack;
    fiber.context.uc_link = nullptr;
    makecontext(&fiber.context, fiber_main, 0);
  }
  int done = 0, next = 0;
  while (done < threads) {
    int picked = -1;
    for (int tried = 0; tried < threads; ++tried, next = (next + 1) % threads) {
      if (launch.fibers[next].state == FiberState::Runnable) {
        picked = next;
        break;
      }
    }
    if (picked < 0)
      fail(
          "every live thread waits at a barrier that others never reach (__syncthreads or a warp shuffle under "
          "divergent control flow)");
    launch.current = picked;
    threadIdx = launch.fibers[picked].index;
#if FLUXION_EMULATION_ASAN
    __sanitizer_start_switch_fiber(&launch.scheduler_fake_stack, launch.fibers[picked].stack.get(), kFiberStack);
#endif
    swapcontext(&launch.scheduler, &launch.fibers[picked].context);
#if FLUXION_EMULATION_ASAN
    __sanitizer_finish_switch_fiber(launch.scheduler_fake_stack, nullptr, nullptr);
#endif
    if (launch.fibers[picked].state == FiberState::Done) ++done;
    next = (picked + 1) % threads;
  }
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
  if (active) fail("a kernel launched from inside a kernel");
  ++launches;
  Launch launch;
  launch.body = &body;
  launch.fibers.resize(static_cast<size_t>(threads));
  for (int t = 0; t < threads; ++t) {
    auto& fiber = launch.fibers[t];
    fiber.stack.reset(new char[kFiberStack]);
    fiber.index.x = t % block.x;
    fiber.index.y = (t / block.x) % block.y;
    fiber.index.z = t / (block.x * block.y);
  }
  launch.warps.resize(static_cast<size_t>((threads + kWarpSize - 1) / kWarpSize));
  for (size_t w = 0; w < launch.warps.size(); ++w)
    launch.warps[w].lanes =
        static_cast<int>(std::min<int64_t>(kWarpSize, threads - static_cast<int64_t>(w) * kWarpSize));
  active = &launch;
  blockDim = block;
  gridDim = grid;
  for (unsigned z = 0; z < grid.z; ++z)
    for (unsigned y = 0; y < grid.y; ++y)
      for (unsigned x = 0; x < grid.x; ++x) {
        blockIdx.x = x;
        blockIdx.y = y;
        blockIdx.z = z;
        run_block(launch);
      }
  active = nullptr;
}

void sync_block() {
  if (!active) fail("__syncthreads outside a kernel");
  wait_at(*active, active->block_sync);
}

void exchange_xor_in_warp(const void* mine, void* partners, int lane_mask, int width, int bytes) {
  if (!active) fail("warp shuffle outside a kernel");
  Launch& launch = *active;
  Warp& warp = warp_of_current(launch);
  const int lane = launch.current % kWarpSize;
  const int partner_lane = ((lane ^ lane_mask) & (width - 1)) | (lane & ~(width - 1));
  std::memcpy(warp.slots[lane], mine, static_cast<size_t>(bytes));
  wait_at(launch, warp.barrier);
  if (partner_lane >= warp.lanes || !warp.live[partner_lane])
    fail("warp shuffle from lane " + std::to_string(partner_lane) + ", which " +
         (partner_lane >= warp.lanes ? "the block does not have" : "has returned from the kernel"));
  std::memcpy(partners, warp.slots[partner_lane], static_cast<size_t>(bytes));
  wait_at(launch, warp.barrier);
}

int64_t launch_count() { return launches; }

}  // namespace fluxion::kernel_emulation
