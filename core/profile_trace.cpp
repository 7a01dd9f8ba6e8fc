#include "core/profile_trace.h"

#include <torch/csrc/autograd/profiler_kineto.h>

#include <filesystem>
#include <set>

#include "core/error.h"

namespace fluxion::core {

namespace profiler = torch::profiler::impl;

ProfileTrace::ProfileTrace(std::string path, const torch::Device& device) : path_(std::move(path)) {
  FLUXION_CHECK(!profiler::profilerEnabled(), "--profile: a profiler is already running");
  std::set<profiler::ActivityType> activities{profiler::ActivityType::CPU};
  if (device.is_cuda()) activities.insert(profiler::ActivityType::CUDA);
  const profiler::ProfilerConfig config(profiler::ProfilerState::KINETO, /*report_input_shapes=*/true);
  // Kineto forgets a prepared trace when one stops, so each start is prepared afresh. (Starting the
  // second one unprepared is the suspected cause of the SIGSEGV `bench --profile` hit with PyTorch
  // 2.11 on the GPU host; the cuda test of bench --profile settles it there.)
  const auto start = [&] {
    torch::autograd::profiler::prepareProfiler(config, activities);
    torch::autograd::profiler::enableProfiler(config, activities);
  };
  // Writing a trace needs a LibTorch built with Kineto (the PyTorch wheels; not Debian's): an
  // empty profile finds out before the work to be profiled.
  start();
  try {
    torch::autograd::profiler::disableProfiler()->save(path_ + ".probe");
  } catch (const std::exception&) {
    fail(
        "--profile: this LibTorch cannot write traces (it was built without Kineto, USE_KINETO=0); "
        "use a PyTorch wheel's LibTorch, as on the GPU host");
  }
  std::filesystem::remove(path_ + ".probe");
  start();
  running_ = true;
}

void ProfileTrace::finish() {
  if (!running_) return;
  running_ = false;
  auto result = torch::autograd::profiler::disableProfiler();
  // ProfilerResult::save writes in place; a temporary name keeps a half-written trace away from path_.
  const std::string temporary = path_ + ".tmp";
  result->save(temporary);
  std::error_code error;
  std::filesystem::rename(temporary, path_, error);
  FLUXION_CHECK(!error, "--profile: cannot write ", path_, ": ", error.message());
}

ProfileTrace::~ProfileTrace() {
  try {
    finish();
  } catch (...) {
  }
}

}  // namespace fluxion::core
