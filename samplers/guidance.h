#pragma once
// Classifier-free guidance: turns a conditional model (x, t, y) -> pred (a ModelFn) into a guided
// (x, t) -> pred Field that samplers integrate.
//
//   out = uncond + s (cond - uncond)     (SiT's forward_with_cfg and JiT's _forward_sample)
//
// Interval (JiT's _cfg_scale_for_t): guidance applies to a sample whose time t satisfies
//     (lo <= 0 or t > lo)  and  (hi >= 1 or t < hi)
// i.e. the open interval (lo, hi), where a bound at 0 (JiT: `low == 0`) or at 1 means unbounded on
// that side. JiT's own sampler never evaluates t = 1, so reading hi = 1 as "no upper bound" changes
// nothing there and keeps SiT's full-range guidance at t = 1. Outside the interval the output is
// the conditional prediction alone (scale 1), and the unconditional pass is skipped when no sample
// of the batch needs it.
//
// Channels: all, or only the first k (SiT guides model_out[:, :3] "for exact reproducibility";
// the rest keep the conditional output).
// Space: the model's own output (SiT) or velocity (JiT converts cond and uncond to velocity first;
// the guided callable then predicts velocity).
// Passes: one doubled batch ([x, x], [y, null]) by default; separate_passes runs two forwards
// (JiT).
#include <torch/torch.h>

#include <cstdint>

#include "samplers/model_fn.h"
#include "samplers/path.h"
#include "samplers/prediction.h"

namespace fluxion::samplers {

enum class GuidanceSpace { model_output, velocity };

struct GuidanceConfig {
  double scale = 1.0;
  double interval_lo = 0.0;
  double interval_hi = 1.0;
  int64_t channels = -1;  // -1: all channels; k > 0: only channels [0, k) (SiT: 3)
  GuidanceSpace space = GuidanceSpace::model_output;
  bool separate_passes = false;
  int64_t null_label = 1000;  // the unconditional class index (ImageNet: 1000)
};

// True where guidance applies at time t (the interval rule above).
bool guidance_active(double t, const GuidanceConfig& config);
// (B) bool mask of guidance_active over a (B) time tensor.
torch::Tensor guidance_mask(const torch::Tensor& t, const GuidanceConfig& config);

struct GuidedModel {
  Field fn;
  PredictionType output_type;  // velocity when space == velocity, else the model's type
};

// `labels` (B) int64 are the classes of the batch being sampled. The model predicts `type` on
// `path`; they matter only for velocity-space guidance.
GuidedModel guide(ModelFn model, torch::Tensor labels, const GuidanceConfig& config,
                  PredictionType type = PredictionType::velocity, const Path& path = Path(),
                  const ConversionOptions& conversion = {});

// out = uncond + s (cond - uncond) on the guided channels of the rows in `mask` (B) bool; cond
// elsewhere. Exposed for tests and for callers with their own batching.
torch::Tensor combine_guidance(const torch::Tensor& cond, const torch::Tensor& uncond, const torch::Tensor& mask,
                               double scale, int64_t channels);

}  // namespace fluxion::samplers
