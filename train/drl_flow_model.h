#pragma once
// The flow model DRL finetunes, loaded the way `fluxion sample` loads it (objectives/checkpoint.h,
// models/zoo.h: any backbone the checkpoint holds, SiT or JiT, softmax/gated/linear attention),
// with the checks that make finetuning meaningful: a fluxion flow checkpoint (Dale's
// multiplicative models have no Gaussian step density: refused), on the linear path (the
// Flow-GRPO step assumes x_s = s x + (1 - s) eps), any prediction type (converted to velocity).
#include <torch/torch.h>

#include <memory>
#include <string>

#include "models/backbone.h"
#include "models/zoo.h"
#include "objectives/checkpoint.h"
#include "objectives/objective.h"
#include "train/drl_rollout.h"

namespace fluxion::train {

struct FlowBase {
  models::ModelConfig model_config;
  objectives::ModelWeights weights;                  // the base weights and the configs stored with them
  std::unique_ptr<objectives::Objective> objective;  // the flow objective the base was trained with
  std::string flow_json;                             // its settings, for the velocity conversion
};

// Reads `path` (weights `which`: ema | model | ...); a file of the wrong family is a one-line
// fluxion::Error naming it.
FlowBase load_flow_base(const std::string& path, const std::string& which);

// A model built from `base`'s config holding its weights, on `device`, in eval mode (no label
// dropout: finetuning's randomness is all in its seeded draws); frozen when `trainable` is false.
models::BackbonePtr build_flow_model(const FlowBase& base, const torch::Device& device, bool trainable);

// The velocity of `model` in the s = 0 noise convention (its raw prediction converted with the
// objective's path and prediction type), as float32.
VelocityFn velocity_fn(models::Backbone& model, const FlowBase& base);

}  // namespace fluxion::train
