#include "core/compat.h"

#include <ATen/autocast_mode.h>

#include <cmath>

namespace fluxion::compat {

std::string torch_version() {
#if defined(TORCH_VERSION)
  return TORCH_VERSION;
#else
  return std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." +
         std::to_string(TORCH_VERSION_PATCH);
#endif
}

torch::Tensor scaled_dot_product_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                           std::optional<double> scale) {
#if FLUXION_TORCH2
  return at::scaled_dot_product_attention(q, k, v, /*attn_mask=*/{}, /*dropout_p=*/0.0,
                                          /*is_causal=*/false, scale);
#else
  const double s = scale.value_or(1.0 / std::sqrt(static_cast<double>(q.size(-1))));
  // (B, H, N, d) x (B, H, d, M) -> (B, H, N, M)
  auto scores = torch::matmul(q, k.transpose(-2, -1)) * s;
  return torch::matmul(torch::softmax(scores, -1), v);
#endif
}

namespace {
bool autocast_enabled(c10::DeviceType device) {
#if FLUXION_TORCH2
  return at::autocast::is_autocast_enabled(device);
#else
  return device == c10::DeviceType::CUDA ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
#endif
}
void set_autocast_enabled(c10::DeviceType device, bool enabled) {
#if FLUXION_TORCH2
  at::autocast::set_autocast_enabled(device, enabled);
#else
  if (device == c10::DeviceType::CUDA) {
    at::autocast::set_enabled(enabled);
  } else {
    at::autocast::set_cpu_enabled(enabled);
  }
#endif
}
c10::ScalarType autocast_dtype(c10::DeviceType device) {
#if FLUXION_TORCH2
  return at::autocast::get_autocast_dtype(device);
#else
  return device == c10::DeviceType::CUDA ? at::autocast::get_autocast_gpu_dtype()
                                         : at::autocast::get_autocast_cpu_dtype();
#endif
}
void set_autocast_dtype(c10::DeviceType device, c10::ScalarType dtype) {
#if FLUXION_TORCH2
  at::autocast::set_autocast_dtype(device, dtype);
#else
  if (device == c10::DeviceType::CUDA) {
    at::autocast::set_autocast_gpu_dtype(dtype);
  } else {
    at::autocast::set_autocast_cpu_dtype(dtype);
  }
#endif
}
}  // namespace

std::optional<c10::ScalarType> active_autocast_dtype(c10::DeviceType device_type) {
  if (!autocast_enabled(device_type)) return std::nullopt;
  return autocast_dtype(device_type);
}

AutocastGuard::AutocastGuard(c10::DeviceType device_type, c10::ScalarType dtype) : device_type_(device_type) {
  if (dtype == c10::kFloat) return;
  active_ = true;
  previous_enabled_ = autocast_enabled(device_type);
  previous_dtype_ = autocast_dtype(device_type);
  set_autocast_enabled(device_type, true);
  // LibTorch's autocast defaults to fp16; fluxion always names its dtype explicitly.
  set_autocast_dtype(device_type, dtype);
  at::autocast::increment_nesting();
}

AutocastGuard::~AutocastGuard() {
  if (!active_) return;
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  set_autocast_enabled(device_type_, previous_enabled_);
  set_autocast_dtype(device_type_, previous_dtype_);
}

AutocastOffGuard::AutocastOffGuard()
    : previous_cpu_(autocast_enabled(c10::DeviceType::CPU)), previous_cuda_(autocast_enabled(c10::DeviceType::CUDA)) {
  set_autocast_enabled(c10::DeviceType::CPU, false);
  set_autocast_enabled(c10::DeviceType::CUDA, false);
}

AutocastOffGuard::~AutocastOffGuard() {
  set_autocast_enabled(c10::DeviceType::CPU, previous_cpu_);
  set_autocast_enabled(c10::DeviceType::CUDA, previous_cuda_);
}

}  // namespace fluxion::compat
