#pragma once
// What a sampler must know about the objective a model was trained with: its path, what it
// predicts, and the time-end epsilons and clamps that go with them (SiT's sample_eps, JiT's t_eps).
#include "samplers/sampler.h"
#include "train/flow_objective.h"

namespace fluxion::train {

// Fills path, prediction, t_eps and the end epsilons of `base` from the training objective.
samplers::SamplerConfig sampler_for_objective(const FlowConfig& flow,
                                              samplers::SamplerConfig base = {});

}  // namespace fluxion::train
