#include "samplers/sampler.h"

#include "samplers/guidance.h"
#include "samplers/multiplicative.h"
#include "samplers/ode.h"
#include "samplers/prediction.h"
#include "samplers/sde.h"

namespace fluxion::samplers {
namespace {

SampleResult run_multiplicative(const SamplerSpec& spec, const Field& score, const torch::Tensor& x,
                                at::Generator& generator) {
  const auto m = sample_multiplicative(spec.multiplicative, score, x, generator);
  SampleResult result;
  result.x = m.x;
  result.nfe = m.nfe;
  result.unclamped = m.raw;
  result.nonpositive = m.nonpositive;
  result.lost_images = m.lost_images;
  return result;
}

SampleResult run_sde(const SamplerSpec& spec, const Field& model, PredictionType type, const torch::Tensor& noise,
                     at::Generator& generator) {
  const auto sde =
      sample_sde(model, type, Path(spec.path), noise, sampler_time_grid(spec), spec.sde, generator, spec.conversion);
  SampleResult result;
  result.x = sde.x;
  result.nfe = sde.nfe;
  result.accepted_steps = sde.steps;
  return result;
}

OdeResult run_ode_solver(const SamplerSpec& spec, const Field& model, PredictionType type, const torch::Tensor& noise) {
  const Path path(spec.path);
  if (spec.ode_solver == OdeSolver::dpm_pp_2m) {
    const auto data = converted_model(model, type, PredictionType::x, path, spec.conversion);
    return dpm_solver_pp_2m(data, noise, sampler_time_grid(spec), path);
  }
  const auto velocity = converted_model(model, type, PredictionType::velocity, path, spec.conversion);
  switch (spec.ode_solver) {
    case OdeSolver::euler: return euler(velocity, noise, sampler_time_grid(spec));
    case OdeSolver::heun: return heun(velocity, noise, sampler_time_grid(spec), spec.heun_last_step_euler);
    case OdeSolver::midpoint: return midpoint(velocity, noise, sampler_time_grid(spec));
    case OdeSolver::rk4: return rk4(velocity, noise, sampler_time_grid(spec));
    case OdeSolver::dopri5: return dopri5(velocity, noise, spec.start_eps, 1.0 - spec.end_eps, spec.dopri5);
    case OdeSolver::dpm_pp_2m: break;
  }
  return {};
}

// A flow family: `model` predicts `type` (the guided output type after guidance).
SampleResult run_flow(const SamplerSpec& spec, const Field& model, PredictionType type, const torch::Tensor& noise,
                      at::Generator& generator) {
  if (spec.family == SamplerFamily::sde) return run_sde(spec, model, type, noise, generator);
  const auto ode = run_ode_solver(spec, model, type, noise);
  SampleResult result;
  result.x = ode.x;
  result.nfe = ode.nfe;
  result.accepted_steps = ode.accepted_steps;
  result.rejected_steps = ode.rejected_steps;
  return result;
}

}  // namespace

SampleResult sample(const SamplerSpec& spec, const Field& field, const torch::Tensor& x, at::Generator& generator) {
  if (spec.family == SamplerFamily::multiplicative) return run_multiplicative(spec, field, x, generator);
  return run_flow(spec, field, spec.prediction, x, generator);
}

SampleResult sample(const SamplerSpec& spec, const ModelFn& model, const torch::Tensor& labels, const torch::Tensor& x,
                    at::Generator& generator) {
  if (spec.family == SamplerFamily::multiplicative) {
    const Field score = [&](const torch::Tensor& xs, const torch::Tensor& t) { return model(xs, t, labels); };
    return run_multiplicative(spec, score, x, generator);
  }
  const auto guided = guide(model, labels, spec.guidance, spec.prediction, Path(spec.path), spec.conversion);
  return run_flow(spec, guided.fn, guided.output_type, x, generator);
}

}  // namespace fluxion::samplers
