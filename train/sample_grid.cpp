#include "train/sample_grid.h"

#include "core/compat.h"
#include "core/device.h"
#include "core/image_io.h"
#include "core/rng.h"
#include "train/dale_sampling.h"
#include "train/flow_sampling.h"

namespace fluxion::train {

SampleGrid::SampleGrid(const models::ModelConfig& model_config, const TrainConfig& config,
                       int64_t num_classes, const torch::Device& device, uint64_t seed,
                       core::TensorMap objective_state)
    : model_(models::build_model(model_config)),
      config_(config),
      objective_state_(std::move(objective_state)),
      seed_(seed),
      device_(device) {
  model_->to(device);
  model_->eval();
  auto gen = core::make_generator(seed, torch::kCPU);
  const int64_t n = config.grid_images;
  noise_ = core::randn({n, model_->in_channels(), model_->image_size(), model_->image_size()}, gen)
               .to(device);
  // Row-major grid with one class per column when the columns match the classes.
  labels_ = num_classes > 0 ? torch::arange(n, torch::kLong).remainder(num_classes)
                            : torch::full({n}, model_->num_classes(), torch::kLong);
  labels_ = labels_.to(device);
}

void SampleGrid::write(const core::TensorMap& weights, const std::string& path) {
  torch::NoGradGuard no_grad;
  model_->load_state(weights, "EMA weights");
  const auto precision = core::resolve_precision(config_.precision, device_);
  auto gen = core::make_generator(seed_ + 1, device_);
  const TrainModelFn model_fn = [&](const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& y) {
    return model_->forward(x, t, y).to(torch::kFloat);
  };
  torch::Tensor images;
  if (config_.objective == "dale") {
    samplers::MultiplicativeConfig dls;
    dls.level_stride = config_.grid_level_stride;
    compat::AutocastGuard autocast(device_.type(), precision);
    images = sample_dale(multiplicative_for(config_.dale, dls), config_.dale, model_fn, labels_, objective_state_,
                         "auto", noise_, gen)
                 .x;
  } else {
    samplers::SamplerConfig base;
    base.name = config_.grid_sampler;
    base.steps = config_.grid_steps;
    base.cfg_scale = config_.grid_cfg;
    base.null_label = model_->num_classes();
    compat::AutocastGuard autocast(device_.type(), precision);
    images = samplers::sample(sampler_for_objective(config_.flow, base), model_fn, labels_, noise_, gen).x;
  }
  core::write_png(path, core::make_grid(core::to_uint8(images.cpu())));
}

}  // namespace fluxion::train
