#pragma once
// One entry point for every sampler: sample() runs the sampler a SamplerSpec names (ode, sde or
// multiplicative family; sampler_config.h) on a model callable from its initial state and reports
// the exact NFE. Parse the SamplerConfig once (parse_sampler) and sample many batches with it.
#include <torch/torch.h>

#include <cstdint>

#include "samplers/model_fn.h"
#include "samplers/sampler_config.h"

namespace fluxion::samplers {

struct SampleResult {
  torch::Tensor x;
  int64_t nfe = 0;
  int64_t accepted_steps = 0;
  int64_t rejected_steps = 0;  // dopri5
  // multiplicative family (multiplicative.h): x is clamped to [1, 2]; these say what was lost
  torch::Tensor unclamped;
  int64_t nonpositive = 0;
  int64_t lost_images = 0;
};

// `field` predicts spec.prediction (flow families) or the Hyvarinen score (multiplicative); `x` is
// the initial state: noise at start_eps, or the positive prior sample. No guidance. The generator
// is used by the stochastic samplers only.
SampleResult sample(const SamplerSpec& spec, const Field& field, const torch::Tensor& x, at::Generator& generator);

// A conditional model with its labels (B): flow families apply classifier-free guidance from
// spec.guidance; the multiplicative family calls model(x, t, labels) unguided.
SampleResult sample(const SamplerSpec& spec, const ModelFn& model, const torch::Tensor& labels, const torch::Tensor& x,
                    at::Generator& generator);

}  // namespace fluxion::samplers
