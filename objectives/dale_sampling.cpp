#include "objectives/dale_sampling.h"

#include "core/error.h"
#include "objectives/dale_prior.h"

namespace fluxion::objectives {

namespace {

class DaleSampler : public ObjectiveSampler {
 public:
  DaleSampler(samplers::SamplerSpec spec, DaleConfig dale, core::TensorMap priors, std::string prior)
      : spec_(std::move(spec)), dale_(std::move(dale)), priors_(std::move(priors)), prior_(std::move(prior)) {}

  std::string describe() const override { return spec_.description + ", " + prior_ + " prior"; }

  samplers::SampleResult sample(const ModelFn& model, const torch::Tensor& labels, const torch::Tensor& z,
                                at::Generator& gen) const override {
    return sample_dale(spec_, dale_, model, labels, priors_, prior_, z, gen);
  }

 private:
  samplers::SamplerSpec spec_;
  DaleConfig dale_;
  core::TensorMap priors_;
  std::string prior_;  // resolved: class | channel
};

}  // namespace

samplers::SamplerConfig sampler_for_dale(const DaleConfig& dale, samplers::SamplerConfig base) {
  base.gbm_sigma = dale.sigma;
  base.gbm_mu = dale.mu;
  base.levels = dale.levels;
  base.horizon = dale.horizon;
  return base;
}

samplers::SampleResult sample_dale(const samplers::SamplerSpec& sampler, const DaleConfig& dale, const ModelFn& model,
                                   const torch::Tensor& labels, const core::TensorMap& objective_state,
                                   const std::string& prior, const torch::Tensor& z, at::Generator& gen) {
  FLUXION_CHECK(sampler.family == samplers::SamplerFamily::multiplicative,
                "a Dale model is sampled by a multiplicative sampler (dls, ums), not '", sampler.description, "'");
  auto x_init = sample_dale_prior(objective_state, prior, labels, z);
  // The backbone's raw output at a positive state and GBM time -> the Hyvarinen score.
  const ModelFn score = [&](const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& y) {
    return dale_hyvarinen_score(model(dale_model_input(x, dale), dale_model_time(t, dale), y), x, t, dale);
  };
  auto result = samplers::sample(sampler, score, labels, x_init, gen);
  // [offset, offset + 1] -> [-1, 1]
  result.x = (result.x - dale.offset) * 2.0 - 1.0;
  return result;
}

std::unique_ptr<ObjectiveSampler> dale_sampler(const SamplingRequest& request, const DaleConfig& dale,
                                               const core::TensorMap& priors) {
  FLUXION_CHECK(samplers::sampler_family(request.sampler.name) == samplers::SamplerFamily::multiplicative,
                request.source,
                " holds a Dale (multiplicative score) model; sample it with --sampler dls or --sampler ums");
  auto spec = samplers::parse_sampler(sampler_for_dale(dale, request.sampler));
  FLUXION_CHECK(priors.count("prior_mean") && priors.count("prior_std"), request.source,
                ": Dale checkpoint lacks its log-normal prior (objective.prior_*)");
  auto prior = resolve_dale_prior(request.prior, priors);
  return std::make_unique<DaleSampler>(std::move(spec), dale, priors, std::move(prior));
}

}  // namespace fluxion::objectives
