#pragma once
// The grid a training run writes every sample_every steps: the same noise and labels each time
// (so grids of successive steps are comparable), sampled with the given (EMA) weights.
#include <torch/torch.h>

#include <string>

#include "core/safetensors.h"
#include "models/zoo.h"
#include "train/train_config.h"

namespace fluxion::train {

class SampleGrid {
 public:
  SampleGrid(const models::ModelConfig& model_config, const TrainConfig& config,
             int64_t num_classes, const torch::Device& device, uint64_t seed,
             core::TensorMap objective_state = {});
  // Loads `weights` into the grid's own model copy, samples and writes the grid PNG atomically.
  void write(const core::TensorMap& weights, const std::string& path);

 private:
  models::BackbonePtr model_;
  TrainConfig config_;
  torch::Tensor noise_, labels_;
  core::TensorMap objective_state_;  // Dale's prior
  uint64_t seed_;
  torch::Device device_;
};

}  // namespace fluxion::train
