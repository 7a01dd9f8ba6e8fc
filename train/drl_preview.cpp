#include "train/drl_preview.h"

#include "core/image_io.h"
#include "core/rng.h"
#include "objectives/backbone_model_fn.h"

namespace fluxion::train {

Preview::Preview(const FlowBase& base, const FinetuneConfig& config, int64_t num_classes, const torch::Device& device,
                 uint64_t seed)
    : model_(build_flow_model(base, device, false)), device_(device), seed_(seed) {
  const int64_t n = std::max<int64_t>(config.grid_images, 1);
  auto gen = core::make_generator(seed_);
  noise_ = core::randn({n, model_->in_channels(), model_->image_size(), model_->image_size()}, gen).to(device);
  labels_ = (num_classes > 0 ? torch::arange(n, torch::kLong).remainder(num_classes)
                             : torch::full({n}, model_->num_classes(), torch::kLong))
                .to(device);
  sampler_ = evaluation_sampler(base, config);
}

std::unique_ptr<objectives::ObjectiveSampler> Preview::evaluation_sampler(const FlowBase& base,
                                                                          const FinetuneConfig& config) {
  objectives::SamplingRequest request;
  request.sampler.name = config.disc_sampler;
  request.sampler.steps = config.disc_sampler_steps;
  request.sampler.cfg_scale = 1.0;  // guidance-free: what DRL improves
  request.source = config.checkpoint;
  return base.objective->sampler(request);
}

double Preview::run(const core::TensorMap& weights, const RewardFn& reward, const std::string& grid) {
  torch::NoGradGuard no_grad;
  model_->load_state(weights, "the policy's EMA");
  auto gen = core::make_generator(seed_ + 1, device_);
  const samplers::ModelFn fn = objectives::backbone_model_fn(model_);
  auto images = sampler_->sample(fn, labels_, noise_, gen).x.to(torch::kFloat).clamp(-1, 1);
  if (!grid.empty()) core::write_png(grid, core::make_grid(core::to_uint8(images.cpu())));
  return reward(images, labels_).mean().item<double>();
}

}  // namespace fluxion::train
