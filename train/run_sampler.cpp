#include "train/run_sampler.h"

#include "core/compat.h"
#include "core/device.h"
#include "core/error.h"
#include "core/log.h"
#include "objectives/backbone_model_fn.h"

namespace fluxion::train {

RunSampler::RunSampler(const models::ModelConfig& model_config, const TrainConfig& config,
                       const objectives::Objective& objective, const torch::Device& device,
                       const models::VaeConfig* latent_vae)
    : model_(models::build_model(model_config)), precision_(config.precision), device_(device) {
  if (latent_vae) {
    if (config.vae.empty()) {
      undecodable_ = true;
      core::log_warn("latent data: no sample grids or evaluations without --vae WEIGHTS to decode them");
    } else {
      decoder_ = models::load_vae(config.vae, config.vae_config, device);
      FLUXION_CHECK(decoder_->config().latent_channels == model_->in_channels(), "the VAE ", config.vae, " has ",
                    decoder_->config().latent_channels, " latent channels, the model ", model_->in_channels());
      decoder_->eval();
      if (core::resolve_precision(precision_, device) == torch::kBFloat16) decoder_->to(torch::kBFloat16);
    }
  }
  model_->to(device);
  model_->eval();
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

int64_t RunSampler::channels() const { return model_->in_channels(); }
int64_t RunSampler::image_size() const { return model_->image_size(); }

void RunSampler::load(const core::TensorMap& weights) { model_->load_state(weights, "EMA weights"); }

torch::Tensor RunSampler::sample(const torch::Tensor& noise, const torch::Tensor& labels, at::Generator& gen) {
  FLUXION_CHECK(!undecodable_, "a latent run cannot sample images without --vae");
  torch::NoGradGuard no_grad;
  const auto precision = core::resolve_precision(precision_, device_);
  const samplers::ModelFn model_fn = objectives::backbone_model_fn(model_);
  torch::Tensor images;
  {
    compat::AutocastGuard autocast(device_.type(), precision);
    images = sampler_->sample(model_fn, labels.to(device_), noise.to(device_), gen).x;
  }
  if (decoder_) images = decoder_->decode(images.to(torch::kFloat));  // (N, L, h, w) -> (N, 3, 8h, 8w)
  return images;
}

}  // namespace fluxion::train
