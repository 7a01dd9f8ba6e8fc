#pragma once
// The one conversion module between what a network predicts and what a sampler integrates.
//
// With x_t = a x_data + s noise and u_t = da x_data + ds noise (see path.h), a prediction of any
// one of these determines the others given x_t:
//   velocity v = da x1 + ds x0      x (data) x1      noise x0      score = -x0 / s
// (x1 = data, x0 = noise, a = alpha(t), s = sigma(t)). Velocity from noise or score uses SiT's
// drift form v = (da/a) x_t + [(da/a) s^2 - s ds] score, which stays finite at t = 1.
//
// JiT's x-prediction on the linear path divides by a clamped 1 - t:
//   v = (x1_hat - x_t) / max(1 - t, t_eps)       (t_eps = 0.05 in JiT)
// ConversionOptions::t_eps carries that clamp (0 means none). On other paths it floors sigma(t).
#include <torch/torch.h>

#include <string>

#include "samplers/model_fn.h"
#include "samplers/path.h"

namespace fluxion::samplers {

enum class PredictionType { velocity, x, noise, score };

// "velocity" | "v" | "x" | "data" | "noise" | "eps" | "epsilon" | "score".
PredictionType parse_prediction_type(const std::string& name);
std::string to_string(PredictionType type);

struct ConversionOptions {
  // Lower clamp of 1 - t (linear) or sigma(t) (other paths) when converting an x-prediction.
  double t_eps = 0.0;
};

// pred (B, ...) of `type` at (x_t (B, ...), t (B)) -> velocity (B, ...).
torch::Tensor to_velocity(const torch::Tensor& pred, const torch::Tensor& x_t, const torch::Tensor& t, const Path& path,
                          PredictionType type, const ConversionOptions& options = {});

// velocity -> prediction of `target` type (exact inverse of to_velocity without clamping).
torch::Tensor velocity_to(PredictionType target, const torch::Tensor& velocity, const torch::Tensor& x_t,
                          const torch::Tensor& t, const Path& path);

// Any type -> any type (through the velocity; returns pred itself when from == to).
torch::Tensor convert(const torch::Tensor& pred, PredictionType from, PredictionType to, const torch::Tensor& x_t,
                      const torch::Tensor& t, const Path& path, const ConversionOptions& options = {});

// Wraps a model predicting `type` into one predicting `target` (identity when they agree).
Field converted_model(Field model, PredictionType type, PredictionType target, const Path& path,
                      const ConversionOptions& options = {});

}  // namespace fluxion::samplers
