#pragma once
// The grid a training run writes every sample_every steps: the same noise and labels each time
// (so grids of successive steps are comparable), sampled with the given (EMA) weights by the run's
// sampler (run_sampler.h). Latent runs decode their grids with the SD-VAE of --vae.
#include <torch/torch.h>

#include <string>

#include "core/safetensors.h"
#include "train/run_sampler.h"

namespace fluxion::train {

class SampleGrid {
 public:
  // `images` grid images with class-cycling labels (one class per column when the columns match
  // the classes; the null label for unconditional models).
  SampleGrid(RunSampler& sampler, int64_t images, int64_t num_classes, int64_t null_label, uint64_t seed);
  // Samples with `weights` and writes the grid PNG atomically (nothing for a latent run without
  // --vae).
  void write(const core::TensorMap& weights, const std::string& path);

 private:
  RunSampler& sampler_;
  torch::Tensor noise_, labels_;
  uint64_t seed_;
};

}  // namespace fluxion::train
