#pragma once
// The one place where LibTorch 1.13 (Debian 12, CPU) and 2.x (CUDA, from PyTorch) differ.
// Everything else in fluxion calls these helpers instead of version-specific APIs.
#include <torch/torch.h>

#include <optional>
#include <string>

#if defined(TORCH_VERSION_MAJOR) && TORCH_VERSION_MAJOR >= 2
#define FLUXION_TORCH2 1
#else
#define FLUXION_TORCH2 0
#endif
// at::_fused_adamw_ with the learning rate as a device tensor (PyTorch 2.1's tensor_lr overload;
// 2.2 to be safe): what a captured training step needs (train/graphed_step.h).
#if FLUXION_TORCH2 && (TORCH_VERSION_MAJOR > 2 || TORCH_VERSION_MINOR >= 2)
#define FLUXION_FUSED_ADAMW_TENSOR_LR 1
#else
#define FLUXION_FUSED_ADAMW_TENSOR_LR 0
#endif

namespace fluxion::compat {

// "1.13.0", "2.11.0", ...
std::string torch_version();

// softmax(q k^T * scale [+ mask]) v with q, k, v shaped (B, H, N, d). On LibTorch 2.x this is
// at::scaled_dot_product_attention (flash / cuDNN / memory-efficient kernels); on 1.13 an exact
// matmul-softmax-matmul fallback. The math is computed in the inputs' dtype.
torch::Tensor scaled_dot_product_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                           std::optional<double> scale = std::nullopt);

// The dtype autocast casts to on `device_type`, or nothing when autocast is off there.
std::optional<c10::ScalarType> active_autocast_dtype(c10::DeviceType device_type);

// RAII: enables autocast to `dtype` on `device_type` for its lifetime, restoring the previous
// state afterwards. A no-op for dtype == kFloat. On LibTorch 2.x the per-device autocast API is
// used; on 1.13 the CPU/CUDA-specific ones.
class AutocastGuard {
 public:
  AutocastGuard(c10::DeviceType device_type, c10::ScalarType dtype);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool active_ = false;
  c10::DeviceType device_type_;
  bool previous_enabled_ = false;
  c10::ScalarType previous_dtype_ = c10::kFloat;
};

// RAII: disables autocast (for the fp32 islands: attention scores, linear-attention sums, losses).
class AutocastOffGuard {
 public:
  AutocastOffGuard();
  ~AutocastOffGuard();
  AutocastOffGuard(const AutocastOffGuard&) = delete;
  AutocastOffGuard& operator=(const AutocastOffGuard&) = delete;

 private:
  bool previous_cpu_ = false;
  bool previous_cuda_ = false;
};

}  // namespace fluxion::compat
