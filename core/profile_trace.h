#pragma once
// A Kineto profile of a region, written as a Chrome trace (chrome://tracing, Perfetto, or
// tools/bench/trace_table.py for a kernel table), as torch.profiler's export_chrome_trace does:
// CPU operators always, CUDA kernels and copies when the device is CUDA.
#include <torch/torch.h>

#include <string>

namespace fluxion::core {

class ProfileTrace {
 public:
  // Starts profiling; throws fluxion::Error when a profiler is already running.
  ProfileTrace(std::string path, const torch::Device& device);
  ProfileTrace(const ProfileTrace&) = delete;
  ProfileTrace& operator=(const ProfileTrace&) = delete;
  // Stops and writes the trace (atomically); called by the destructor when not called before.
  // Synchronise the device first, so that the kernels of the region are in it.
  void finish();
  ~ProfileTrace();

 private:
  std::string path_;
  bool running_ = false;
};

}  // namespace fluxion::core
