#pragma once
// How a training run samples its own weights for the grids (sample_grid.h) and the evaluations
// during training (training_eval.h): a copy of the backbone on the run's device, the sampler the
// run's objective gives for the grid settings (--grid-sampler, --grid-steps, --grid-cfg;
// Objective::preview_sampler), and for latent runs the SD-VAE of --vae that decodes the samples.
#include <torch/torch.h>

#include <memory>
#include <string>

#include "core/safetensors.h"
#include "models/vae.h"
#include "models/zoo.h"
#include "objectives/objective.h"
#include "train/train_config.h"

namespace fluxion::train {

class RunSampler {
 public:
  // `objective` (with its state: Dale's prior) must be fitted or loaded already; the sampler it
  // gives is kept, not the objective. `latent_vae`: the config of latent data's VAE (null for
  // images); its weights come from config.vae, and without them nothing can be decoded.
  RunSampler(const models::ModelConfig& model_config, const TrainConfig& config, const objectives::Objective& objective,
             const torch::Device& device, const models::VaeConfig* latent_vae = nullptr);

  // False for a latent run without --vae (a warning was logged).
  bool can_sample() const { return !undecodable_; }
  int64_t channels() const;    // of the backbone's input (latent channels for latent runs)
  int64_t image_size() const;  // of the backbone's input
  const torch::Device& device() const { return device_; }

  // Loads `weights` (EMA weights) into the sampler's model copy.
  void load(const core::TensorMap& weights);
  // Samples noise (N, C, S, S) with labels (N), decoded to images for latent runs; the SDE
  // samplers draw from `gen`. Returns images in [-1, 1] on the device (float, or bfloat16 from a
  // VAE decoding in bf16).
  torch::Tensor sample(const torch::Tensor& noise, const torch::Tensor& labels, at::Generator& gen);

 private:
  models::BackbonePtr model_;
  std::string precision_;
  std::unique_ptr<objectives::ObjectiveSampler> sampler_;
  models::AutoencoderKL decoder_{nullptr};  // latent runs: latents -> images
  bool undecodable_ = false;
  torch::Device device_;
};

}  // namespace fluxion::train
