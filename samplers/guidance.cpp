#include "samplers/guidance.h"

#include "core/error.h"

namespace fluxion::samplers {

bool guidance_active(double t, const GuidanceConfig& config) {
  const bool above_lo = config.interval_lo <= 0.0 || t > config.interval_lo;
  const bool below_hi = config.interval_hi >= 1.0 || t < config.interval_hi;
  return above_lo && below_hi;
}

torch::Tensor guidance_mask(const torch::Tensor& t, const GuidanceConfig& config) {
  auto mask = torch::ones(t.sizes(), t.options().dtype(torch::kBool));
  if (config.interval_lo > 0.0) mask = mask & (t > config.interval_lo);
  if (config.interval_hi < 1.0) mask = mask & (t < config.interval_hi);
  return mask;
}

torch::Tensor combine_guidance(const torch::Tensor& cond, const torch::Tensor& uncond, const torch::Tensor& mask,
                               double scale, int64_t channels) {
  auto guided = uncond + scale * (cond - uncond);
  if (channels >= 0 && channels < cond.size(1)) {
    // SiT: guide channels [0, k), keep the conditional output on the rest.
    guided = torch::cat({guided.narrow(1, 0, channels), cond.narrow(1, channels, cond.size(1) - channels)}, 1);
  }
  std::vector<int64_t> shape(cond.dim(), 1);
  shape[0] = cond.size(0);
  return torch::where(mask.view(shape), guided, cond);  // (B) -> (B, 1, ...)
}

GuidedModel guide(ModelFn model, torch::Tensor labels, const GuidanceConfig& config, PredictionType type,
                  const Path& path, const ConversionOptions& conversion) {
  FLUXION_CHECK(config.channels == -1 || config.channels > 0, "guidance: channels must be -1 (all) or > 0, got ",
                config.channels);
  FLUXION_CHECK(config.interval_lo < config.interval_hi, "guidance: interval [", config.interval_lo, ", ",
                config.interval_hi, "] is empty");
  const bool in_velocity = config.space == GuidanceSpace::velocity;
  GuidedModel guided;
  guided.output_type = in_velocity ? PredictionType::velocity : type;
  guided.fn = [model = std::move(model), labels = std::move(labels), config, type, path, conversion, in_velocity](
                  const torch::Tensor& x, const torch::Tensor& t) {
    FLUXION_CHECK(labels.size(0) == x.size(0), "guidance: ", labels.size(0), " labels for a batch of ", x.size(0));
    auto to_output = [&](const torch::Tensor& pred, const torch::Tensor& xs, const torch::Tensor& ts) {
      return in_velocity ? to_velocity(pred, xs, ts, path, type, conversion) : pred;
    };
    const auto y = labels.to(x.device());
    const auto mask = guidance_mask(t, config);
    if (config.scale == 1.0 || !mask.any().item<bool>()) return to_output(model(x, t, y), x, t);

    const auto null = torch::full_like(y, config.null_label);
    torch::Tensor cond, uncond;
    if (config.separate_passes) {
      cond = to_output(model(x, t, y), x, t);
      uncond = to_output(model(x, t, null), x, t);
    } else {
      const auto x2 = torch::cat({x, x}, 0);  // (B, ...) -> (2B, ...)
      const auto t2 = torch::cat({t, t}, 0);
      const auto both = to_output(model(x2, t2, torch::cat({y, null}, 0)), x2, t2);
      cond = both.narrow(0, 0, x.size(0));
      uncond = both.narrow(0, x.size(0), x.size(0));
    }
    return combine_guidance(cond, uncond, mask, config.scale, config.channels);
  };
  return guided;
}

}  // namespace fluxion::samplers
