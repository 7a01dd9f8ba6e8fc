#include "train/adamw.h"

#include <cmath>
#include <optional>

#include "core/compat.h"
#include "core/error.h"

namespace fluxion::train {

AdamW::AdamW(std::vector<std::pair<std::string, torch::Tensor>> params, AdamWConfig config) : config_(config) {
  torch::NoGradGuard no_grad;
  for (auto& [name, p] : params) {
    if (!p.requires_grad()) continue;
    // Moments at least in fp32 (bf16/fp16 parameters keep fp32 moments), else the parameter's dtype.
    const auto dtype = p.scalar_type() == torch::kDouble ? torch::kDouble : torch::kFloat;
    slots_.push_back({name, p, torch::zeros_like(p, dtype), torch::zeros_like(p, dtype)});
  }
}

int64_t AdamW::steps() const {
  return device_steps_.empty() ? steps_ : static_cast<int64_t>(device_steps_.front().item<double>());
}

void AdamW::step(double lr, const torch::Tensor& found_inf) {
  set_lr(lr);
  step_at_set_lr(found_inf);
}

void AdamW::set_lr(double lr) {
  lr_ = lr;
#if FLUXION_FUSED_ADAMW_TENSOR_LR
  if (slots_.empty() || !slots_.front().param.is_cuda()) return;
  torch::NoGradGuard no_grad;
  if (!device_lr_.defined())
    device_lr_ = torch::empty({}, torch::TensorOptions().dtype(torch::kFloat).device(slots_.front().param.device()));
  device_lr_.fill_(lr);
#endif
}

void AdamW::step_at_set_lr(const torch::Tensor& found_inf) {
  torch::NoGradGuard no_grad;
  const double lr = lr_;
  if (fused_step(found_inf)) return;
  if (!device_steps_.empty()) {  // back from the fused path: its count becomes the host's
    steps_ = steps();
    device_steps_.clear();
  }
  if (found_inf.defined() && found_inf.item<double>() != 0.0) return;
  ++steps_;
  const double bias1 = 1.0 - std::pow(config_.beta1, static_cast<double>(steps_));
  const double bias2 = 1.0 - std::pow(config_.beta2, static_cast<double>(steps_));
  const double step_size = lr / bias1;
  const double bias2_sqrt = std::sqrt(bias2);
  for (auto& slot : slots_) {
    const auto& grad = slot.param.grad();
    if (!grad.defined()) continue;
    if (config_.weight_decay != 0.0) slot.param.mul_(1.0 - lr * config_.weight_decay);
    slot.exp_avg.lerp_(grad, 1.0 - config_.beta1);
    slot.exp_avg_sq.mul_(config_.beta2).addcmul_(grad, grad, 1.0 - config_.beta2);
    auto denom = (slot.exp_avg_sq.sqrt() / bias2_sqrt).add_(config_.eps);
    slot.param.addcdiv_(slot.exp_avg, denom, -step_size);
  }
}

bool AdamW::fused_step(const torch::Tensor& found_inf) {
#if FLUXION_TORCH2
  if (slots_.empty() || !slots_.front().param.is_cuda()) return false;
  const auto device = slots_.front().param.device();
  std::vector<torch::Tensor> params, grads, exp_avgs, exp_avg_sqs;
  for (auto& slot : slots_) {
    const auto& grad = slot.param.grad();
    if (!grad.defined() || slot.param.device() != device || slot.param.scalar_type() != torch::kFloat ||
        grad.scalar_type() != torch::kFloat || grad.is_sparse())
      return false;
    params.push_back(slot.param);
    grads.push_back(grad);
    exp_avgs.push_back(slot.exp_avg);
    exp_avg_sqs.push_back(slot.exp_avg_sq);
  }
  if (device_steps_.size() != slots_.size()) {
    device_steps_.clear();
    const auto options = torch::TensorOptions().dtype(torch::kFloat).device(device);
    for (size_t i = 0; i < slots_.size(); ++i)
      device_steps_.push_back(torch::full({}, static_cast<double>(steps_ + 1), options));
  } else {
    at::_foreach_add_(device_steps_, 1.0);
  }
  // The kernel skips the whole update when found_inf is non-zero; the step counts are taken
  // back the same way (torch.optim's _fused_adamw does both).
  const auto skip =
      found_inf.defined() ? std::optional<torch::Tensor>(found_inf.to(device, torch::kFloat)) : std::nullopt;
  const std::vector<torch::Tensor> max_exp_avg_sqs;  // amsgrad off
#if FLUXION_FUSED_ADAMW_TENSOR_LR
  // read on the device, so that an eager step and one replayed from a graph are the same call
  if (!device_lr_.defined()) set_lr(lr_);
  const auto& lr = device_lr_;
#else
  const double lr = lr_;
#endif
  at::_fused_adamw_(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, device_steps_, lr, config_.beta1,
                    config_.beta2, config_.weight_decay, config_.eps, /*amsgrad=*/false,
                    /*maximize=*/false, /*grad_scale=*/std::nullopt, skip);
  if (skip) at::_foreach_sub_(device_steps_, std::vector<torch::Tensor>(device_steps_.size(), *skip));
  return true;
#else
  (void)found_inf;
  return false;
#endif
}

void AdamW::zero_grad() {
  for (auto& slot : slots_) {
    auto& grad = slot.param.mutable_grad();
    if (grad.defined()) grad = torch::Tensor();
  }
}

core::TensorMap AdamW::state() const {
  core::TensorMap out;
  for (const auto& slot : slots_) {
    out["exp_avg." + slot.name] = slot.exp_avg;
    out["exp_avg_sq." + slot.name] = slot.exp_avg_sq;
  }
  out["step"] = torch::tensor(steps(), torch::kLong);
  return out;
}

void AdamW::load_state(const core::TensorMap& state, const std::string& source) {
  torch::NoGradGuard no_grad;
  auto find = [&](const std::string& key, const torch::Tensor& like) -> const torch::Tensor& {
    auto it = state.find(key);
    FLUXION_CHECK(it != state.end(), source, ": optimizer state lacks '", key, "'");
    FLUXION_CHECK(it->second.sizes() == like.sizes(), source, ": optimizer state '", key, "' has shape ",
                  it->second.sizes(), ", expected ", like.sizes());
    return it->second;
  };
  for (auto& slot : slots_) {
    slot.exp_avg.copy_(find("exp_avg." + slot.name, slot.exp_avg));
    slot.exp_avg_sq.copy_(find("exp_avg_sq." + slot.name, slot.exp_avg_sq));
  }
  auto it = state.find("step");
  FLUXION_CHECK(it != state.end(), source, ": optimizer state lacks 'step'");
  steps_ = it->second.item<int64_t>();
  device_steps_.clear();
}

torch::Tensor clip_grad_norm(const std::vector<torch::Tensor>& params, double max_norm) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> grads;
  for (const auto& p : params)
    if (p.grad().defined()) grads.push_back(p.grad());
  if (grads.empty()) return torch::zeros({});
#if FLUXION_TORCH2
  auto norms = at::_foreach_norm(grads);  // a few multi-tensor kernels
#else
  std::vector<torch::Tensor> norms;
  for (const auto& g : grads) norms.push_back(g.detach().norm());
#endif
  auto total = torch::stack(norms).to(torch::kFloat).norm();
  if (max_norm > 0.0) {
    const auto scale = (max_norm / (total + 1e-6)).clamp_max(1.0);  // 1: the norm is within the limit
#if FLUXION_TORCH2
    at::_foreach_mul_(grads, scale);
#else
    for (auto& g : grads) g.mul_(scale);
#endif
  }
  return total;
}

}  // namespace fluxion::train
