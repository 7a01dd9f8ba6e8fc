#pragma once
// Sampling a flow model: what a sampler must know about the objective it was trained with (its
// path, what it predicts, and the time-end epsilons and clamps that go with them: SiT's
// sample_eps, JiT's t_eps), and the ObjectiveSampler that runs the ode and sde samplers with
// classifier-free guidance.
#include <cstdint>
#include <memory>

#include "objectives/flow_objective.h"
#include "objectives/objective.h"
#include "samplers/sampler_config.h"

namespace fluxion::objectives {

// Fills path, prediction, t_eps and the end epsilons of `base` from the training objective.
samplers::SamplerConfig sampler_for_flow(const FlowConfig& flow, samplers::SamplerConfig base = {});

// A flow sampler exactly as request.sampler says, guiding towards labels with `null_label` as the
// unconditional class. FlowObjective::sampler completes the request first; converted official
// weights, which record no objective, are sampled by this directly. A multiplicative sampler
// name is refused with one line.
std::unique_ptr<ObjectiveSampler> flow_sampler(const SamplingRequest& request, int64_t null_label);

}  // namespace fluxion::objectives
