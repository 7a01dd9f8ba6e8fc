#include "train/train_step.h"

#include "train/distributed.h"

namespace fluxion::train {

namespace {
NamedTensors parameters_and_buffers(models::Backbone& model) {
  NamedTensors out;
  for (const auto& p : model.named_parameters(true)) out.emplace_back(p.key(), p.value());
  for (const auto& b : model.named_buffers(true)) out.emplace_back(b.key(), b.value());
  return out;
}

NamedTensors requiring_grad(models::Backbone& model) {
  NamedTensors out;
  for (const auto& p : model.named_parameters(true))
    if (p.value().requires_grad()) out.emplace_back(p.key(), p.value());
  return out;
}

std::vector<torch::Tensor> tensors_of(const NamedTensors& named) {
  std::vector<torch::Tensor> out;
  for (const auto& [name, t] : named) out.push_back(t);
  return out;
}
}  // namespace

TrainStep::TrainStep(models::Backbone& model, const TrainConfig& config)
    : weights_(parameters_and_buffers(model)),
      trainable_(requiring_grad(model)),
      trainable_tensors_(tensors_of(trainable_)),
      grad_clip_(config.grad_clip),
      optimizer_(trainable_, {config.lr, config.beta1, config.beta2, config.adam_eps, config.weight_decay}),
      ema_(weights_, config.ema_decays) {}

torch::Tensor TrainStep::backward(const std::function<torch::Tensor(int64_t)>& micro_loss, int64_t micro_batches) {
  torch::Tensor loss;
  for (int64_t micro = 0; micro < micro_batches; ++micro) {
    auto l = micro_loss(micro);
    const bool sync = sync_ && micro == micro_batches - 1;
    if (sync) sync_->arm();  // the gradients are complete during this pass: averaged as they come
    (l / static_cast<double>(micro_batches)).backward();
    if (sync) sync_->finish();
    auto share = l.detach().to(torch::kFloat) / static_cast<double>(micro_batches);
    loss = loss.defined() ? loss + share : share;
  }
  return loss;
}

StepStats TrainStep::apply(const torch::Tensor& loss, double lr) {
  set_lr(lr);
  return apply_at_set_lr(loss);
}

StepStats TrainStep::apply_at_set_lr(const torch::Tensor& loss) {
  torch::NoGradGuard no_grad;
  StepStats stats;
  stats.loss = sync_ ? sync_->average(loss, "loss allreduce").to(loss.device()) : loss;
  stats.grad_norm = clip_grad_norm(trainable_tensors_, grad_clip_).to(loss.device());
  stats.finite = torch::isfinite(stats.loss).logical_and(torch::isfinite(stats.grad_norm));
  const bool update_ema = !exact_skips_ || stats.finite.item<bool>();
  optimizer_.step_at_set_lr(stats.finite.logical_not());
  optimizer_.zero_grad();
  if (update_ema) ema_.update(weights_);
  return stats;
}

}  // namespace fluxion::train
