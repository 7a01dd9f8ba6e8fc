#pragma once
// The grid a training run writes every sample_every steps: the same noise and labels each time
// (so grids of successive steps are comparable), sampled with the given (EMA) weights by the
// sampler the run's objective gives for its grid settings (Objective::preview_sampler). Latent
// runs decode their grids with the SD-VAE of --vae.
#include <torch/torch.h>

#include <memory>
#include <string>

#include "core/safetensors.h"
#include "models/vae.h"
#include "models/zoo.h"
#include "objectives/objective.h"
#include "train/train_config.h"

namespace fluxion::train {

class SampleGrid {
 public:
  // `objective` (with its state: Dale's prior) must be fitted or loaded already; the grid keeps
  // the sampler it gives, not the objective. `latent_vae`: the config of latent data's VAE (null
  // for images); its weights come from config.vae, and without them no grid is written.
  SampleGrid(const models::ModelConfig& model_config, const TrainConfig& config,
             const objectives::Objective& objective, int64_t num_classes, const torch::Device& device,
             uint64_t seed, const models::VaeConfig* latent_vae = nullptr);
  // Loads `weights` into the grid's own model copy, samples and writes the grid PNG atomically.
  void write(const core::TensorMap& weights, const std::string& path);

 private:
  models::BackbonePtr model_;
  std::string precision_;
  std::unique_ptr<objectives::ObjectiveSampler> sampler_;
  models::AutoencoderKL decoder_{nullptr};  // latent runs: latents -> images
  bool undecodable_ = false;                // latent run without --vae: no grids
  torch::Tensor noise_, labels_;
  uint64_t seed_;
  torch::Device device_;
};

}  // namespace fluxion::train
