#include "train/drl_flow_model.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "objectives/objective_config.h"
#include "samplers/path.h"
#include "samplers/prediction.h"

namespace fluxion::train {

FlowBase load_flow_base(const std::string& path, const std::string& which) {
  FlowBase base;
  base.weights = objectives::load_model_weights(path, which);
  FLUXION_CHECK(!base.weights.model_config.empty() && !base.weights.train_config.empty(), path,
                ": not a fluxion training checkpoint (no model and training config in its metadata); "
                "finetune a checkpoint written by fluxion train");
  base.model_config = models::config_from_json(base.weights.model_config);
  const auto train_config = nlohmann::json::parse(base.weights.train_config);
  const auto objective = objectives::objective_config_from_json(train_config);
  FLUXION_CHECK(objective.name == "flow", path, " holds a ", objective.name,
                " (multiplicative) model, but DRL finetuning needs a flow model (its SDE steps have Gaussian "
                "log-probabilities; Dale's samplers have none)");
  FLUXION_CHECK(samplers::parse_path_type(objective.flow.path) == samplers::PathType::linear, path,
                " was trained on the ", objective.flow.path,
                " path; DRL finetuning's SDE step needs the linear path x_t = t x + (1 - t) noise");
  base.flow_json = nlohmann::json(objective.flow).dump();
  auto model = models::build_model(base.model_config);
  base.objective = objectives::load_objective(base.weights, model->num_classes());
  return base;
}

models::BackbonePtr build_flow_model(const FlowBase& base, const torch::Device& device, bool trainable) {
  auto model = models::build_model(base.model_config);
  model->load_state(base.weights.weights, "the base checkpoint");
  model->to(device);
  model->eval();
  for (auto& p : model->parameters()) p.set_requires_grad(trainable);
  return model;
}

VelocityFn velocity_fn(models::Backbone& model, const FlowBase& base) {
  const auto flow = nlohmann::json::parse(base.flow_json).get<objectives::FlowConfig>();
  const auto prediction = samplers::parse_prediction_type(flow.prediction);
  samplers::ConversionOptions conversion;
  if (prediction == samplers::PredictionType::x) conversion.t_eps = flow.x_pred_t_eps;  // JiT's clamp
  const samplers::Path path(samplers::PathType::linear);
  return
      [&model, prediction, conversion, path](const torch::Tensor& x, const torch::Tensor& s, const torch::Tensor& y) {
        auto out = model.forward(x, s, y).to(torch::kFloat);
        return samplers::to_velocity(out, x, s, path, prediction, conversion);
      };
}

}  // namespace fluxion::train
