#pragma once
// Sampling a Dale (M-DSM) model: the log-normal prior, the multiplicative samplers and the map
// back from [1, 2] to fluxion's [-1, 1] images.
#include <torch/torch.h>

#include "samplers/multiplicative.h"
#include "core/safetensors.h"
#include "train/dale_objective.h"

namespace fluxion::train {

// sigma, mu, levels and horizon from the training objective; the other fields from `base`.
samplers::MultiplicativeConfig multiplicative_for(const DaleConfig& dale,
                                                  samplers::MultiplicativeConfig base = {});

// model(input, time, y) -> raw output, as in DaleObjective. `z` (B, C, H, W) standard normal
// draws give the prior sample exp(m + s z) of `prior` (dale_prior.h) from the checkpoint's
// objective state. Returns images in [-1, 1] and the sampler's NFE.
samplers::MultiplicativeResult sample_dale(const samplers::MultiplicativeConfig& sampler,
                                           const DaleConfig& dale, const TrainModelFn& model,
                                           const torch::Tensor& labels, const core::TensorMap& objective_state,
                                           const std::string& prior, const torch::Tensor& z,
                                           at::Generator& gen);

}  // namespace fluxion::train
