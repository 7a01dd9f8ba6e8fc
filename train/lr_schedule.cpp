#include "train/lr_schedule.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace fluxion::train {

void LrSchedule::validate() const {
  FLUXION_CHECK(shape == "constant" || shape == "cosine" || shape == "linear", "unknown learning-rate schedule '",
                shape, "' (constant, cosine, linear)");
  FLUXION_CHECK(base_lr > 0.0, "learning rate must be positive, got ", base_lr);
  FLUXION_CHECK(warmup_steps >= 0, "warmup steps must be >= 0, got ", warmup_steps);
}

double LrSchedule::at(int64_t step) const {
  if (warmup_steps > 0 && step < warmup_steps)
    return base_lr * static_cast<double>(step + 1) / static_cast<double>(warmup_steps);
  if (shape == "constant" || total_steps <= warmup_steps) return base_lr;
  const double progress =
      std::clamp(static_cast<double>(step - warmup_steps) / static_cast<double>(total_steps - warmup_steps), 0.0, 1.0);
  const double factor = shape == "cosine" ? 0.5 * (1.0 + std::cos(M_PI * progress)) : 1.0 - progress;
  return final_lr + (base_lr - final_lr) * factor;
}

}  // namespace fluxion::train
