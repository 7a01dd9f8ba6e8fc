#include "core/device.h"

#include "core/error.h"

#include <dlfcn.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <thread>

namespace fluxion::core {

torch::Device resolve_device(const std::string& name) {
  const bool cuda_present = torch::cuda::is_available();
  if (name == "auto" || name.empty()) return cuda_present ? torch::Device(torch::kCUDA, 0) : torch::kCPU;
  if (name == "cpu") return torch::kCPU;
  if (name == "cuda" || name.rfind("cuda:", 0) == 0) {
    FLUXION_CHECK(cuda_present, "device '", name, "' requested but CUDA is not available (this LibTorch ",
                  "has no CUDA or no GPU is visible); use --device cpu");
    int index = 0;
    if (name.size() > 5) {
      const std::string digits = name.substr(5);
      bool numeric = !digits.empty() && digits.size() < 4;
      for (char c : digits) numeric = numeric && std::isdigit(static_cast<unsigned char>(c));
      FLUXION_CHECK(numeric, "device '", name, "': expected cuda:N with N a GPU index");
      index = std::stoi(digits);
    }
    const int count = static_cast<int>(torch::cuda::device_count());
    FLUXION_CHECK(index < count, "device '", name, "': only ", count, " CUDA device(s) visible");
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  fail("unknown device '", name, "' (expected auto, cpu, cuda or cuda:N)");
}

torch::ScalarType resolve_precision(const std::string& name, const torch::Device& device) {
  if (name == "auto" || name.empty()) return device.is_cuda() ? torch::kBFloat16 : torch::kFloat;
  if (name == "fp32" || name == "float32") return torch::kFloat;
  if (name == "bf16" || name == "bfloat16") return torch::kBFloat16;
  fail("unknown precision '", name, "' (expected auto, fp32 or bf16)");
}

namespace {
// The GPU's marketing name through the driver API, looked up at run time so that the CPU-only
// LibTorch build needs no CUDA headers. Empty when the driver cannot say.
std::string cuda_device_name(int index) {
  void* lib = ::dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
  if (!lib) return {};
  using InitFn = int (*)(unsigned int);
  using GetFn = int (*)(int*, int);
  using NameFn = int (*)(char*, int, int);
  auto init = reinterpret_cast<InitFn>(::dlsym(lib, "cuInit"));
  auto get = reinterpret_cast<GetFn>(::dlsym(lib, "cuDeviceGet"));
  auto name = reinterpret_cast<NameFn>(::dlsym(lib, "cuDeviceGetName"));
  std::string result;
  int device = 0;
  char buffer[256] = {0};
  if (init && get && name && init(0) == 0 && get(&device, index) == 0 && name(buffer, sizeof(buffer) - 1, device) == 0)
    result = buffer;
  ::dlclose(lib);
  return result;
}
}  // namespace

std::string device_summary(const torch::Device& device) {
  if (device.is_cuda()) {
    const int index = device.has_index() ? device.index() : 0;
    const std::string name = cuda_device_name(index);
    return concat("cuda:", index, " (", name.empty() ? "CUDA device" : name, ")");
  }
  if (device.is_cpu()) return concat("cpu (", at::get_num_threads(), " threads)");
  return device.str();
}

int configure_cpu_threads() {
  if (!std::getenv("OMP_NUM_THREADS"))
    torch::set_num_threads(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  if (!std::getenv("OPENBLAS_NUM_THREADS")) {
    // Present only when the BLAS behind LibTorch is OpenBLAS; a no-op with MKL builds.
    using SetThreadsFn = void (*)(int);
    if (auto set_blas_threads = reinterpret_cast<SetThreadsFn>(::dlsym(RTLD_DEFAULT, "openblas_set_num_threads")))
      set_blas_threads(1);
  }
  return at::get_num_threads();
}

}  // namespace fluxion::core
