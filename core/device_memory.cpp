#include "core/device_memory.h"

#include <sys/resource.h>

#if FLUXION_HAVE_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace fluxion::core {

namespace {
constexpr double kMiB = 1024.0 * 1024.0;
}

double peak_memory_mib(const torch::Device& device) {
  if (device.is_cuda()) {
#if FLUXION_HAVE_CUDA
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.has_index() ? device.index() : 0);
    return static_cast<double>(stats.allocated_bytes[0].peak) / kMiB;  // [0]: StatType::AGGREGATE
#else
    return 0.0;
#endif
  }
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) * 1024.0 / kMiB;  // ru_maxrss: KiB on Linux
}

void reset_peak_memory(const torch::Device& device) {
#if FLUXION_HAVE_CUDA
  if (device.is_cuda()) c10::cuda::CUDACachingAllocator::resetPeakStats(device.has_index() ? device.index() : 0);
#else
  (void)device;
#endif
}

}  // namespace fluxion::core
