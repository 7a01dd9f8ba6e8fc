#include "train/step_monitor.h"

#include <limits>

namespace fluxion::train {

StepMonitor::StepMonitor(torch::Device device) {
  const auto zero = [&] { return torch::zeros({}, torch::TensorOptions().dtype(torch::kDouble).device(device)); };
  loss_sum_ = zero();
  norm_sum_ = zero();
  finite_steps_ = zero();
  first_bad_step_ = zero();
  first_bad_loss_ = zero();
  first_bad_norm_ = zero();
}

void StepMonitor::add(int64_t step, const StepStats& stats) {
  torch::NoGradGuard no_grad;
  const auto finite = stats.finite.to(torch::kDouble);
  const auto loss = stats.loss.to(torch::kDouble);
  const auto norm = stats.grad_norm.to(torch::kDouble);
  // where() rather than multiplying by the flag: 0 * nan is nan.
  loss_sum_.add_(torch::where(stats.finite, loss, torch::zeros_like(loss)));
  norm_sum_.add_(torch::where(stats.finite, norm, torch::zeros_like(norm)));
  finite_steps_.add_(finite);
  const auto first = stats.finite.logical_not().logical_and(first_bad_step_.eq(0));
  first_bad_step_ = torch::where(first, torch::full_like(first_bad_step_, static_cast<double>(step)), first_bad_step_);
  first_bad_loss_ = torch::where(first, loss, first_bad_loss_);
  first_bad_norm_ = torch::where(first, norm, first_bad_norm_);
}

StepMonitor::Window StepMonitor::take() {
  // (3,) on the host in one copy: one sync for the whole window.
  const auto values = torch::stack({finite_steps_, loss_sum_, norm_sum_}).cpu();
  const auto* v = values.data_ptr<double>();
  Window w;
  w.steps = static_cast<int64_t>(v[0]);
  const double nan = std::numeric_limits<double>::quiet_NaN();  // no finite step: no mean (JSON null)
  w.mean_loss = w.steps > 0 ? v[1] / static_cast<double>(w.steps) : nan;
  w.mean_grad_norm = w.steps > 0 ? v[2] / static_cast<double>(w.steps) : nan;
  finite_steps_.zero_();
  loss_sum_.zero_();
  norm_sum_.zero_();
  return w;
}

std::optional<StepMonitor::NonFinite> StepMonitor::first_nonfinite() const {
  const auto values = torch::stack({first_bad_step_, first_bad_loss_, first_bad_norm_}).cpu();
  const auto* v = values.data_ptr<double>();
  if (v[0] == 0.0) return std::nullopt;
  return NonFinite{static_cast<int64_t>(v[0]), v[1], v[2]};
}

}  // namespace fluxion::train
