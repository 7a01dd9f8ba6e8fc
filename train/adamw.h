#pragma once
// AdamW with PyTorch's exact update (torch.optim.AdamW, amsgrad off):
//   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;  p -= lr wd p  (decoupled decay)
//   p -= lr * (m / (1 - b1^k)) / (sqrt(v / (1 - b2^k)) + eps)
// fluxion owns the implementation so that its moments live under parameter names and go into
// safetensors checkpoints unchanged on LibTorch 1.13 and 2.x (exact resume). On LibTorch 2.x with
// float32 CUDA parameters the update is PyTorch's fused multi-tensor kernel (AdamW(fused=True)):
// a handful of kernels per step instead of about seven per parameter; the same formula, equal to
// the per-parameter loop within float32 round-off.
#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "core/safetensors.h"

namespace fluxion::train {

struct AdamWConfig {
  double lr = 1e-4;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
};

class AdamW {
 public:
  // `params`: name -> parameter (only those requiring grad are updated).
  AdamW(std::vector<std::pair<std::string, torch::Tensor>> params, AdamWConfig config);

  // One update at `lr`. `found_inf` (optional, a 0-dim tensor on the parameters' device, non-zero
  // when the gradients are not finite) skips the update without the host reading it where the
  // fused kernel runs (it takes the flag, as PyTorch's GradScaler uses it); elsewhere the flag is
  // read on the host. step(lr, f) is set_lr(lr) then step_at_set_lr(f).
  void step(double lr, const torch::Tensor& found_inf = {});
  // The halves of step() for a step replayed from a CUDA graph (train/graphed_step.h): the fused
  // kernel reads the learning rate from a float32 device scalar, which set_lr() writes (outside
  // the graph, before each replay); the per-parameter loop reads the host value.
  void set_lr(double lr);
  void step_at_set_lr(const torch::Tensor& found_inf = {});
  void zero_grad();
  // Updates applied so far (on the fused path the count lives on the device: reading it syncs).
  int64_t steps() const;
  const AdamWConfig& config() const { return config_; }

  // Moments as "exp_avg.<name>" / "exp_avg_sq.<name>", plus "step".
  core::TensorMap state() const;
  // Restores moments; throws fluxion::Error naming a missing or mis-shaped entry.
  void load_state(const core::TensorMap& state, const std::string& source);

 private:
  struct Slot {
    std::string name;
    torch::Tensor param, exp_avg, exp_avg_sq;
  };
  bool fused_step(const torch::Tensor& found_inf);  // false where the fused kernel does not apply

  std::vector<Slot> slots_;
  AdamWConfig config_;
  double lr_ = 0.0;                          // set_lr's value
  torch::Tensor device_lr_;                  // and as a float32 scalar on the CUDA parameters' device
  int64_t steps_ = 0;                        // valid while device_steps_ is empty
  std::vector<torch::Tensor> device_steps_;  // the fused kernel's per-parameter step counts
};

// Clips the global L2 norm of the gradients to max_norm (when > 0) and returns the norm before
// clipping as a 0-dim float32 tensor on the gradients' device (0 without gradients). Nothing is
// read on the host: the scale min(1, max_norm / (norm + 1e-6)) is applied on the device, so a
// non-finite norm leaves non-finite gradients, which the caller's found_inf then skips.
torch::Tensor clip_grad_norm(const std::vector<torch::Tensor>& params, double max_norm);

}  // namespace fluxion::train
