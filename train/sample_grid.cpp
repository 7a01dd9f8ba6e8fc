#include "train/sample_grid.h"

#include "core/compat.h"
#include "core/device.h"
#include "core/error.h"
#include "core/image_io.h"
#include "core/log.h"
#include "core/rng.h"

namespace fluxion::train {

SampleGrid::SampleGrid(const models::ModelConfig& model_config, const TrainConfig& config,
                       const objectives::Objective& objective, int64_t num_classes,
                       const torch::Device& device, uint64_t seed, const models::VaeConfig* latent_vae)
    : model_(models::build_model(model_config)), precision_(config.precision), seed_(seed), device_(device) {
  if (latent_vae && config.grid_images > 0) {
    if (config.vae.empty()) {
      undecodable_ = true;
      core::log_warn("latent data: no sample grids without --vae WEIGHTS to decode them");
    } else {
      decoder_ = models::load_vae(config.vae, config.vae_config, device);
      FLUXION_CHECK(decoder_->config().latent_channels == model_->in_channels(), "the VAE ", config.vae, " has ",
                    decoder_->config().latent_channels, " latent channels, the model ", model_->in_channels());
      decoder_->eval();
    }
  }
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
  if (n == 0) return;  // no grids: nothing to sample with
  samplers::SamplerConfig grid;
  grid.name = config.grid_sampler;
  grid.steps = config.grid_steps;
  grid.cfg_scale = config.grid_cfg;
  grid.level_stride = config.grid_level_stride;
  objectives::SamplingRequest request;
  request.sampler = objective.preview_sampler(grid);
  request.source = "the training run";
  sampler_ = objective.sampler(request);
}

void SampleGrid::write(const core::TensorMap& weights, const std::string& path) {
  if (undecodable_) return;
  torch::NoGradGuard no_grad;
  model_->load_state(weights, "EMA weights");
  const auto precision = core::resolve_precision(precision_, device_);
  auto gen = core::make_generator(seed_ + 1, device_);
  const samplers::ModelFn model_fn = [&](const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& y) {
    return model_->forward(x, t, y).to(torch::kFloat);
  };
  torch::Tensor images;
  {
    compat::AutocastGuard autocast(device_.type(), precision);
    images = sampler_->sample(model_fn, labels_, noise_, gen).x;
    if (decoder_) images = decoder_->decode(images.to(torch::kFloat));  // (N, L, h, w) -> (N, 3, 8h, 8w)
  }
  core::write_png(path, core::make_grid(core::to_uint8(images.cpu())));
}

}  // namespace fluxion::train
