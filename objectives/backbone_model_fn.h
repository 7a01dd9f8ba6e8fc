#pragma once
// A backbone as the samplers see a network: samplers::ModelFn, (x_t, t, y) -> the backbone's
// output in float32 (under autocast the network may compute in bf16; the solvers' arithmetic
// stays float32).
#include "models/backbone.h"
#include "samplers/model_fn.h"

namespace fluxion::objectives {

// Shares ownership of the model.
samplers::ModelFn backbone_model_fn(models::BackbonePtr model);
// Refers to the model: the caller keeps it alive while the function is in use.
samplers::ModelFn backbone_model_fn(models::Backbone& model);

}  // namespace fluxion::objectives
