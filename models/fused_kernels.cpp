#include "models/fused_kernels.h"

#include <atomic>
#include <cstdlib>

#include "core/error.h"

namespace fluxion::models {

namespace {
// -1: follow the environment; 0 or 1: set_fused_kernels_enabled's override
std::atomic<int> override_state{-1};

// read on every call (a few hundred nanoseconds), so that tests and embedding programs may set it
bool environment_allows() {
  const char* value = std::getenv("FLUXION_FUSED_KERNELS");
  if (value == nullptr || *value == '\0') return true;
  const std::string text(value);
  if (text == "1" || text == "true" || text == "on") return true;
  if (text == "0" || text == "false" || text == "off") return false;
  throw Error(concat("FLUXION_FUSED_KERNELS=", text, ": expected 1, true, on, 0, false or off"));
}
}  // namespace

bool fused_kernels_built() {
#if FLUXION_CUDA_KERNELS
  return true;
#else
  return false;
#endif
}

bool fused_kernels_enabled() {
  if (!fused_kernels_built()) return false;
  const int state = override_state.load();
  return state < 0 ? environment_allows() : state == 1;
}

void set_fused_kernels_enabled(std::optional<bool> enabled) { override_state = enabled ? (*enabled ? 1 : 0) : -1; }

std::string fused_kernels_status() {
  if (!fused_kernels_built()) return "not built";
  try {
    if (fused_kernels_enabled()) return "on";
  } catch (const Error& e) {
    return e.what();
  }
  return override_state.load() < 0 ? "off (FLUXION_FUSED_KERNELS)" : "off";
}

}  // namespace fluxion::models
