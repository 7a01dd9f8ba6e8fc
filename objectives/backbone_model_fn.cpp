#include "objectives/backbone_model_fn.h"

namespace fluxion::objectives {

samplers::ModelFn backbone_model_fn(models::BackbonePtr model) {
  return [model = std::move(model)](const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& y) {
    return model->forward(x, t, y).to(torch::kFloat);
  };
}

samplers::ModelFn backbone_model_fn(models::Backbone& model) {
  return [&model](const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& y) {
    return model.forward(x, t, y).to(torch::kFloat);
  };
}

}  // namespace fluxion::objectives
