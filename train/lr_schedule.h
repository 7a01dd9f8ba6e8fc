#pragma once
// Learning rate as a function of the step: linear warmup from 0, then constant (SiT, JiT) or
// cosine decay to `final_lr` at `total_steps` (RAE-style runs use a decay).
#include <cstdint>
#include <string>

namespace fluxion::train {

struct LrSchedule {
  double base_lr = 1e-4;
  int64_t warmup_steps = 0;
  std::string shape = "constant";  // "constant" | "cosine" | "linear"
  int64_t total_steps = 0;         // end of the decay (cosine/linear)
  double final_lr = 0.0;

  // lr for the update numbered `step` (0-based): warmup gives base_lr * (step + 1) / warmup.
  double at(int64_t step) const;
  void validate() const;  // throws fluxion::Error for unknown shapes or inconsistent values
};

}  // namespace fluxion::train
