#include "samplers/prediction.h"

#include "core/error.h"

namespace fluxion::samplers {

PredictionType parse_prediction_type(const std::string& name) {
  if (name == "velocity" || name == "v") return PredictionType::velocity;
  if (name == "x" || name == "data") return PredictionType::x;
  if (name == "noise" || name == "eps" || name == "epsilon") return PredictionType::noise;
  if (name == "score") return PredictionType::score;
  fail("prediction type '", name, "' is unknown; valid: velocity, x, noise, score");
}

std::string to_string(PredictionType type) {
  switch (type) {
    case PredictionType::velocity: return "velocity";
    case PredictionType::x: return "x";
    case PredictionType::noise: return "noise";
    case PredictionType::score: return "score";
  }
  return "?";
}

torch::Tensor to_velocity(const torch::Tensor& pred, const torch::Tensor& x_t, const torch::Tensor& t, const Path& path,
                          PredictionType type, const ConversionOptions& options) {
  if (type == PredictionType::velocity) return pred;
  const auto tb = Path::expand_t_like(t, x_t);  // (B) -> (B, 1, ...)
  switch (type) {
    case PredictionType::x: {
      if (path.type() == PathType::linear) {
        // JiT: v = (x_hat - x_t) / clamp(1 - t, t_eps)
        return (pred - x_t) / (1.0 - tb).clamp_min(options.t_eps);
      }
      const auto noise = (x_t - path.alpha(tb) * pred) / path.sigma(tb).clamp_min(options.t_eps);
      return path.d_alpha(tb) * pred + path.d_sigma(tb) * noise;
    }
    case PredictionType::noise: {
      // v = (da/a) x_t - [(da/a) s - ds] x0, the score form with score = -x0 / s
      const auto ratio = path.d_alpha_alpha_ratio(tb);
      return ratio * x_t - (ratio * path.sigma(tb) - path.d_sigma(tb)) * pred;
    }
    case PredictionType::score: {
      const auto drift = path.compute_drift(x_t, t);
      return -drift.mean + drift.var * pred;
    }
    case PredictionType::velocity: break;
  }
  return pred;
}

torch::Tensor velocity_to(PredictionType target, const torch::Tensor& velocity, const torch::Tensor& x_t,
                          const torch::Tensor& t, const Path& path) {
  if (target == PredictionType::velocity) return velocity;
  const auto tb = Path::expand_t_like(t, x_t);
  const auto a = path.alpha(tb), s = path.sigma(tb), da = path.d_alpha(tb), ds = path.d_sigma(tb);
  // Solve [a s; da ds] [x1; x0] = [x_t; v].
  const auto det = a * ds - s * da;
  switch (target) {
    case PredictionType::x: return (ds * x_t - s * velocity) / det;
    case PredictionType::noise: return (a * velocity - da * x_t) / det;
    case PredictionType::score: return -(a * velocity - da * x_t) / (det * s);
    case PredictionType::velocity: break;
  }
  return velocity;
}

torch::Tensor convert(const torch::Tensor& pred, PredictionType from, PredictionType to, const torch::Tensor& x_t,
                      const torch::Tensor& t, const Path& path, const ConversionOptions& options) {
  if (from == to) return pred;
  return velocity_to(to, to_velocity(pred, x_t, t, path, from, options), x_t, t, path);
}

Field converted_model(Field model, PredictionType type, PredictionType target, const Path& path,
                      const ConversionOptions& options) {
  if (type == target) return model;
  return [model = std::move(model), type, target, path, options](const torch::Tensor& x, const torch::Tensor& t) {
    return convert(model(x, t), type, target, x, t, path, options);
  };
}

}  // namespace fluxion::samplers
