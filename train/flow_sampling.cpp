#include "train/flow_sampling.h"

#include "samplers/time_grid.h"

namespace fluxion::train {

samplers::SamplerConfig sampler_for_objective(const FlowConfig& flow, samplers::SamplerConfig base) {
  base.path = flow.path;
  base.prediction = flow.prediction;
  const auto path = samplers::parse_path_type(flow.path);
  const auto prediction = samplers::parse_prediction_type(flow.prediction);
  if (prediction == samplers::PredictionType::x) {
    base.t_eps = flow.x_pred_t_eps;  // JiT samples with the clamp it trained with
  } else {
    const double eps = samplers::sit_default_eps(path, prediction).sample;
    if (path == samplers::PathType::vp) {
      base.end_eps = std::max(base.end_eps, eps);
    } else if (prediction != samplers::PredictionType::velocity) {
      base.start_eps = std::max(base.start_eps, eps);
      base.end_eps = std::max(base.end_eps, eps);
    }
  }
  return base;
}

}  // namespace fluxion::train
