#include "objectives/flow_sampling.h"

#include <algorithm>

#include "core/error.h"
#include "samplers/sampler.h"
#include "samplers/time_grid.h"

namespace fluxion::objectives {

namespace {

class FlowSampler : public ObjectiveSampler {
 public:
  explicit FlowSampler(samplers::SamplerSpec spec) : spec_(std::move(spec)) {}

  std::string describe() const override { return spec_.description; }

  samplers::SampleResult sample(const ModelFn& model, const torch::Tensor& labels, const torch::Tensor& z,
                                at::Generator& gen) const override {
    return samplers::sample(spec_, model, labels, z, gen);
  }

 private:
  samplers::SamplerSpec spec_;
};

}  // namespace

samplers::SamplerConfig sampler_for_flow(const FlowConfig& flow, samplers::SamplerConfig base) {
  base.path = flow.path;
  base.prediction = flow.prediction;
  const auto path = samplers::parse_path_type(flow.path);
  const auto prediction = samplers::parse_prediction_type(flow.prediction);
  if (prediction == samplers::PredictionType::x) {
    base.t_eps = flow.x_pred_t_eps;  // JiT samples with the clamp it trained with
  } else {
    // SiT's ODE interval; an end the caller set further in stays.
    const auto ends = samplers::sit_interval_eps(path, prediction, samplers::sit_default_eps(path, prediction).sample);
    if (ends.start > 0) base.start_eps = std::max(base.start_eps, ends.start);
    if (ends.end > 0) base.end_eps = std::max(base.end_eps, ends.end);
  }
  return base;
}

std::unique_ptr<ObjectiveSampler> flow_sampler(const SamplingRequest& request, int64_t null_label) {
  const auto& name = request.sampler.name;
  FLUXION_CHECK(samplers::sampler_family(name) != samplers::SamplerFamily::multiplicative, "--sampler ", name,
                " is a multiplicative (Dale-Langevin) sampler, but ", request.source,
                " holds a flow model; use a flow sampler (", samplers::sampler_names().front(), ", heun, ...)");
  auto config = request.sampler;
  config.null_label = null_label;
  return std::make_unique<FlowSampler>(samplers::parse_sampler(config));
}

}  // namespace fluxion::objectives
