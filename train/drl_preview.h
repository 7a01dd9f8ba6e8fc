#pragma once
// The held-out preview of a finetuning run: fixed noise and class labels sampled guidance-free
// with the evaluation sampler, scored by the reward and written as a grid. The same noise at every
// step, so the grids and rewards of a run are comparable.
#include <torch/torch.h>

#include <memory>
#include <string>

#include "core/safetensors.h"
#include "objectives/objective.h"
#include "train/drl_config.h"
#include "train/drl_flow_model.h"
#include "train/drl_update.h"

namespace fluxion::train {

class Preview {
 public:
  // `config.grid_images` images (at least one) of noise drawn from `seed`.
  Preview(const FlowBase& base, const FinetuneConfig& config, int64_t num_classes, const torch::Device& device,
          uint64_t seed);

  // The guidance-free evaluation sampler (--sampler, --sampler-steps) of `base`'s objective.
  static std::unique_ptr<objectives::ObjectiveSampler> evaluation_sampler(const FlowBase& base,
                                                                          const FinetuneConfig& config);

  // Mean reward of the held-out samples of `weights`; writes the grid when `grid` is not "".
  double run(const core::TensorMap& weights, const RewardFn& reward, const std::string& grid);

  const objectives::ObjectiveSampler& sampler() const { return *sampler_; }

 private:
  models::BackbonePtr model_;
  torch::Device device_;
  uint64_t seed_;
  torch::Tensor noise_, labels_;
  std::unique_ptr<objectives::ObjectiveSampler> sampler_;
};

}  // namespace fluxion::train
