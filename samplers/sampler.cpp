#include "samplers/sampler.h"

#include <sstream>

#include "core/error.h"
#include "samplers/ode.h"
#include "samplers/path.h"
#include "samplers/prediction.h"
#include "samplers/sde.h"
#include "samplers/time_grid.h"

namespace fluxion::samplers {
namespace {

bool is_sde(const std::string& name) { return name == "euler-maruyama" || name == "sde-heun"; }

SdeConfig sde_config(const SamplerConfig& config) {
  SdeConfig sde;
  sde.solver = config.name == "sde-heun" ? SdeSolver::heun : SdeSolver::euler_maruyama;
  sde.diffusion = parse_diffusion_form(config.diffusion_form);
  sde.diffusion_norm = config.diffusion_norm;
  sde.last_step = parse_last_step(config.last_step);
  sde.last_step_size = sde.last_step == LastStep::none ? 0.0 : config.last_step_size;
  return sde;
}

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names) out += (out.empty() ? "" : ", ") + name;
  return out;
}

SampleResult run(const SamplerConfig& config, const ModelFn& model, PredictionType type,
                 const torch::Tensor& noise, at::Generator& generator) {
  validate(config);
  const Path path(parse_path_type(config.path));
  ConversionOptions conversion;
  conversion.t_eps = config.t_eps;
  SampleResult result;
  if (is_sde(config.name)) {
    const auto sde = sample_sde(model, type, path, noise, sampler_time_grid(config),
                                sde_config(config), generator, conversion);
    result.x = sde.x;
    result.nfe = sde.nfe;
    result.accepted_steps = sde.steps;
    return result;
  }
  const auto solver = parse_ode_solver(config.name);
  OdeResult ode;
  if (solver == OdeSolver::dpm_pp_2m) {
    const auto data = converted_model(model, type, PredictionType::x, path, conversion);
    ode = dpm_solver_pp_2m(data, noise, sampler_time_grid(config), path);
  } else {
    const auto velocity = converted_model(model, type, PredictionType::velocity, path, conversion);
    switch (solver) {
      case OdeSolver::euler:
        ode = euler(velocity, noise, sampler_time_grid(config));
        break;
      case OdeSolver::heun:
        ode = heun(velocity, noise, sampler_time_grid(config), config.heun_last_step_euler);
        break;
      case OdeSolver::midpoint:
        ode = midpoint(velocity, noise, sampler_time_grid(config));
        break;
      case OdeSolver::rk4:
        ode = rk4(velocity, noise, sampler_time_grid(config));
        break;
      case OdeSolver::dopri5: {
        Dopri5Options options;
        options.atol = config.atol;
        options.rtol = config.rtol;
        options.max_steps = config.max_steps;
        ode = dopri5(velocity, noise, config.start_eps, 1.0 - config.end_eps, options);
        break;
      }
      case OdeSolver::dpm_pp_2m:
        break;
    }
  }
  result.x = ode.x;
  result.nfe = ode.nfe;
  result.accepted_steps = ode.accepted_steps;
  result.rejected_steps = ode.rejected_steps;
  return result;
}

}  // namespace

const std::vector<std::string>& sampler_names() {
  static const std::vector<std::string> names = {"euler",  "heun",    "midpoint",       "rk4",
                                                 "dopri5", "dpm++2m", "euler-maruyama", "sde-heun"};
  return names;
}

void validate(const SamplerConfig& config) {
  bool known = false;
  for (const auto& name : sampler_names()) known = known || name == config.name;
  FLUXION_CHECK(known, "sampler '", config.name, "' is unknown; valid: ", join(sampler_names()));
  FLUXION_CHECK(config.steps >= 1, "sampler steps must be >= 1, got ", config.steps);
  FLUXION_CHECK(!is_sde(config.name) || config.steps >= 2, "sampler ", config.name,
                ": steps counts grid times (SiT) and must be >= 2, got ", config.steps);
  FLUXION_CHECK(config.atol > 0 && config.rtol >= 0, "sampler atol ", config.atol,
                " must be > 0 and rtol ", config.rtol, " >= 0");
  FLUXION_CHECK(config.time_shift > 0, "sampler time_shift must be > 0, got ", config.time_shift);
  FLUXION_CHECK(
      config.start_eps >= 0 && config.end_eps >= 0 && config.start_eps + config.end_eps < 1,
      "sampler start_eps ", config.start_eps, " and end_eps ", config.end_eps,
      " must be >= 0 and leave an interval");
  FLUXION_CHECK(config.t_eps >= 0, "sampler t_eps must be >= 0, got ", config.t_eps);
  parse_path_type(config.path);
  parse_prediction_type(config.prediction);
  if (is_sde(config.name)) {
    const auto sde = sde_config(config);
    FLUXION_CHECK(sde.last_step_size >= 0 && config.start_eps < 1.0 - sde.last_step_size,
                  "sampler last_step_size ", config.last_step_size, " leaves no interval after ",
                  "start_eps ", config.start_eps);
  }
  FLUXION_CHECK(config.cfg_space == "output" || config.cfg_space == "velocity",
                "sampler cfg_space '", config.cfg_space, "' is unknown; valid: output, velocity");
  FLUXION_CHECK(config.cfg_channels == -1 || config.cfg_channels > 0,
                "sampler cfg_channels must be -1 (all) or > 0, got ", config.cfg_channels);
  FLUXION_CHECK(config.cfg_interval_lo < config.cfg_interval_hi, "sampler cfg interval [",
                config.cfg_interval_lo, ", ", config.cfg_interval_hi, "] is empty");
}

SamplerConfig with_sit_interval(SamplerConfig config) {
  validate(config);
  const bool sde = is_sde(config.name);
  const auto sde_settings = sde_config(config);
  const auto interval = sit_sample_interval(
      parse_path_type(config.path), parse_prediction_type(config.prediction), sde,
      sde ? sde_settings.diffusion : DiffusionForm::sbdm, sde ? sde_settings.last_step_size : 0.0);
  config.start_eps = interval.t0;
  // An SDE with a last step ends at 1 - last_step_size whatever end_eps says.
  config.end_eps = 1.0 - interval.t1;
  return config;
}

GuidanceConfig guidance_config(const SamplerConfig& config) {
  GuidanceConfig guidance;
  guidance.scale = config.cfg_scale;
  guidance.interval_lo = config.cfg_interval_lo;
  guidance.interval_hi = config.cfg_interval_hi;
  guidance.channels = config.cfg_channels;
  guidance.space =
      config.cfg_space == "velocity" ? GuidanceSpace::velocity : GuidanceSpace::model_output;
  guidance.separate_passes = config.cfg_separate_passes;
  guidance.null_label = config.null_label;
  return guidance;
}

std::vector<double> sampler_time_grid(const SamplerConfig& config) {
  validate(config);
  if (config.name == "dopri5") return {};
  TimeGridConfig grid;
  grid.start_eps = config.start_eps;
  grid.shift = config.time_shift;
  if (is_sde(config.name)) {
    const auto sde = sde_config(config);
    grid.points = config.steps;
    grid.end_eps = sde.last_step == LastStep::none ? config.end_eps : sde.last_step_size;
  } else {
    grid.points = config.steps + 1;
    grid.end_eps = config.end_eps;
  }
  return make_time_grid(grid);
}

int64_t expected_nfe(const SamplerConfig& config) {
  validate(config);
  if (is_sde(config.name)) {
    const auto sde = sde_config(config);
    return count_sde_nfe(sde.solver, sde.last_step, config.steps);
  }
  return count_nfe(parse_ode_solver(config.name), config.steps, config.heun_last_step_euler);
}

std::string describe(const SamplerConfig& config) {
  std::ostringstream out;
  out << config.name;
  if (config.name == "dopri5") {
    out << ", atol " << config.atol << ", rtol " << config.rtol << ", adaptive NFE";
  } else {
    out << ", " << config.steps << " steps, " << expected_nfe(config) << " NFE";
    if (config.name == "heun" && config.heun_last_step_euler) out << " (last step Euler)";
  }
  if (is_sde(config.name))
    out << ", diffusion " << config.diffusion_form << " x" << config.diffusion_norm
        << ", last step " << config.last_step;
  if (config.time_shift != 1.0) out << ", shift " << config.time_shift;
  if (config.cfg_scale != 1.0) {
    out << ", cfg " << config.cfg_scale;
    if (config.cfg_interval_lo > 0 || config.cfg_interval_hi < 1)
      out << " on (" << config.cfg_interval_lo << ", " << config.cfg_interval_hi << ")";
    if (config.cfg_channels > 0) out << " first " << config.cfg_channels << " channels";
    out << (config.cfg_separate_passes ? " (2 forwards per NFE)" : " (2x batch per NFE)");
  }
  return out.str();
}

SampleResult sample(const SamplerConfig& config, const ModelFn& model, const torch::Tensor& noise,
                    at::Generator& generator) {
  validate(config);
  return run(config, model, parse_prediction_type(config.prediction), noise, generator);
}

SampleResult sample(const SamplerConfig& config, const ConditionalModelFn& model,
                    const torch::Tensor& labels, const torch::Tensor& noise,
                    at::Generator& generator) {
  validate(config);
  ConversionOptions conversion;
  conversion.t_eps = config.t_eps;
  const auto guided =
      guide(model, labels, guidance_config(config), parse_prediction_type(config.prediction),
            Path(parse_path_type(config.path)), conversion);
  return run(config, guided.fn, guided.output_type, noise, generator);
}

}  // namespace fluxion::samplers
