#pragma once
// Sampling a Dale (M-DSM) model: the log-normal prior, the multiplicative samplers (dls, ums)
// and the map back from [offset, offset + 1] to fluxion's [-1, 1] images.
#include <torch/torch.h>

#include <memory>
#include <string>

#include "core/safetensors.h"
#include "objectives/dale_objective.h"
#include "objectives/objective.h"
#include "samplers/sampler.h"

namespace fluxion::objectives {

// The process the model was trained on (sigma, mu, levels, horizon) from the training objective;
// the other fields from `base`.
samplers::SamplerConfig sampler_for_dale(const DaleConfig& dale, samplers::SamplerConfig base = {});

// `sampler` is of the multiplicative family; model(input, time, y) -> raw output, as in
// DaleObjective. `z` (B, C, H, W) standard normal draws give the prior sample exp(m + s z) of
// `prior` (dale_prior.h) from the objective's state. Returns images in [-1, 1] (and the sampler's
// unclamped state, in [offset, offset + 1] terms), the NFE and what was lost.
samplers::SampleResult sample_dale(const samplers::SamplerSpec& sampler, const DaleConfig& dale, const ModelFn& model,
                                   const torch::Tensor& labels, const core::TensorMap& objective_state,
                                   const std::string& prior, const torch::Tensor& z, at::Generator& gen);

// The ObjectiveSampler of a Dale model with these priors: refuses a flow sampler name, a state
// without the channel prior, and a prior kind the state does not hold, each with one line.
std::unique_ptr<ObjectiveSampler> dale_sampler(const SamplingRequest& request, const DaleConfig& dale,
                                               const core::TensorMap& priors);

}  // namespace fluxion::objectives
