#include "samplers/sampler_config.h"

#include <algorithm>
#include <sstream>

#include "core/error.h"
#include "samplers/time_grid.h"

namespace fluxion::samplers {
namespace {

bool listed(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names) out += (out.empty() ? "" : ", ") + name;
  return out;
}

void parse_multiplicative(const SamplerConfig& config, SamplerSpec& spec) {
  auto& m = spec.multiplicative;
  m.rule = config.name == "ums" ? MultiplicativeRule::ums : MultiplicativeRule::dls;
  m.sigma = config.gbm_sigma;
  m.mu = config.gbm_mu;
  m.levels = config.levels;
  m.horizon = config.horizon;
  m.delta = config.delta;
  m.repeats = config.repeats;
  m.anneal = config.anneal;
  m.final_steps = config.final_steps;
  m.level_stride = config.level_stride;
  m.last_noise = config.last_noise;
  validate(m);
  spec.description = describe(m);
}

// Names as the user spelled them (diffusion form, last step), so the line reads like the command.
std::string describe_flow(const SamplerConfig& config, const SamplerSpec& spec) {
  std::ostringstream out;
  out << config.name;
  const bool dopri5 = spec.family == SamplerFamily::ode && spec.ode_solver == OdeSolver::dopri5;
  if (dopri5) {
    out << ", atol " << config.atol << ", rtol " << config.rtol << ", adaptive NFE";
  } else {
    out << ", " << config.steps << " steps, " << expected_nfe(spec) << " NFE";
    if (config.name == "heun" && config.heun_last_step_euler) out << " (last step Euler)";
  }
  if (spec.family == SamplerFamily::sde)
    out << ", diffusion " << config.diffusion_form << " x" << config.diffusion_norm << ", last step "
        << config.last_step;
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

}  // namespace

const std::vector<std::string>& sampler_names() {
  static const std::vector<std::string> names = {"euler",  "heun",    "midpoint",       "rk4",
                                                 "dopri5", "dpm++2m", "euler-maruyama", "sde-heun"};
  return names;
}

const std::vector<std::string>& multiplicative_sampler_names() {
  static const std::vector<std::string> names = {"dls", "ums"};
  return names;
}

std::optional<SamplerFamily> sampler_family(const std::string& name) {
  if (listed(multiplicative_sampler_names(), name)) return SamplerFamily::multiplicative;
  if (name == "euler-maruyama" || name == "sde-heun") return SamplerFamily::sde;
  if (listed(sampler_names(), name)) return SamplerFamily::ode;
  return std::nullopt;
}

SamplerSpec parse_sampler(const SamplerConfig& config) {
  SamplerSpec spec;
  const auto family = sampler_family(config.name);
  FLUXION_CHECK(family.has_value(), "sampler '", config.name, "' is unknown; valid: ", join(sampler_names()), ", ",
                join(multiplicative_sampler_names()));
  spec.family = *family;
  if (spec.family == SamplerFamily::multiplicative) {
    parse_multiplicative(config, spec);
    return spec;
  }
  const bool sde = spec.family == SamplerFamily::sde;
  FLUXION_CHECK(config.steps >= 1, "sampler steps must be >= 1, got ", config.steps);
  FLUXION_CHECK(!sde || config.steps >= 2, "sampler ", config.name,
                ": steps counts grid times (SiT) and must be >= 2, got ", config.steps);
  FLUXION_CHECK(config.atol > 0 && config.rtol >= 0, "sampler atol ", config.atol, " must be > 0 and rtol ",
                config.rtol, " >= 0");
  FLUXION_CHECK(config.time_shift > 0, "sampler time_shift must be > 0, got ", config.time_shift);
  FLUXION_CHECK(config.start_eps >= 0 && config.end_eps >= 0 && config.start_eps + config.end_eps < 1,
                "sampler start_eps ", config.start_eps, " and end_eps ", config.end_eps,
                " must be >= 0 and leave an interval");
  FLUXION_CHECK(config.t_eps >= 0, "sampler t_eps must be >= 0, got ", config.t_eps);
  spec.path = parse_path_type(config.path);
  spec.prediction = parse_prediction_type(config.prediction);
  if (sde) {
    spec.sde.solver = config.name == "sde-heun" ? SdeSolver::heun : SdeSolver::euler_maruyama;
    spec.sde.diffusion = parse_diffusion_form(config.diffusion_form);
    spec.sde.diffusion_norm = config.diffusion_norm;
    spec.sde.last_step = parse_last_step(config.last_step);
    spec.sde.last_step_size = spec.sde.last_step == LastStep::none ? 0.0 : config.last_step_size;
    FLUXION_CHECK(spec.sde.last_step_size >= 0 && config.start_eps < 1.0 - spec.sde.last_step_size,
                  "sampler last_step_size ", config.last_step_size, " leaves no interval after ", "start_eps ",
                  config.start_eps);
  } else {
    spec.ode_solver = parse_ode_solver(config.name);
  }
  FLUXION_CHECK(config.cfg_space == "output" || config.cfg_space == "velocity", "sampler cfg_space '", config.cfg_space,
                "' is unknown; valid: output, velocity");
  FLUXION_CHECK(config.cfg_channels == -1 || config.cfg_channels > 0,
                "sampler cfg_channels must be -1 (all) or > 0, got ", config.cfg_channels);
  FLUXION_CHECK(config.cfg_interval_lo < config.cfg_interval_hi, "sampler cfg interval [", config.cfg_interval_lo, ", ",
                config.cfg_interval_hi, "] is empty");

  spec.steps = config.steps;
  spec.dopri5.atol = config.atol;
  spec.dopri5.rtol = config.rtol;
  spec.dopri5.max_steps = config.max_steps;
  spec.time_shift = config.time_shift;
  spec.start_eps = config.start_eps;
  spec.end_eps = config.end_eps;
  spec.heun_last_step_euler = config.heun_last_step_euler;
  spec.conversion.t_eps = config.t_eps;
  auto& guidance = spec.guidance;
  guidance.scale = config.cfg_scale;
  guidance.interval_lo = config.cfg_interval_lo;
  guidance.interval_hi = config.cfg_interval_hi;
  guidance.channels = config.cfg_channels;
  guidance.space = config.cfg_space == "velocity" ? GuidanceSpace::velocity : GuidanceSpace::model_output;
  guidance.separate_passes = config.cfg_separate_passes;
  guidance.null_label = config.null_label;
  spec.description = describe_flow(config, spec);
  return spec;
}

SamplerConfig with_sit_interval(SamplerConfig config) {
  const auto spec = parse_sampler(config);
  FLUXION_CHECK(spec.family != SamplerFamily::multiplicative, "sampler ", config.name,
                ": SiT's sampling interval is defined for flow samplers only");
  const bool sde = spec.family == SamplerFamily::sde;
  const auto interval =
      sit_sample_interval(spec.path, spec.prediction, sde, sde ? spec.sde.diffusion : DiffusionForm::sbdm,
                          sde ? spec.sde.last_step_size : 0.0);
  config.start_eps = interval.t0;
  // An SDE with a last step ends at 1 - last_step_size whatever end_eps says.
  config.end_eps = 1.0 - interval.t1;
  return config;
}

std::vector<double> sampler_time_grid(const SamplerSpec& spec) {
  if (spec.family == SamplerFamily::multiplicative) return {};
  if (spec.family == SamplerFamily::ode && spec.ode_solver == OdeSolver::dopri5) return {};
  TimeGridConfig grid;
  grid.start_eps = spec.start_eps;
  grid.shift = spec.time_shift;
  if (spec.family == SamplerFamily::sde) {
    grid.points = spec.steps;
    grid.end_eps = spec.sde.last_step == LastStep::none ? spec.end_eps : spec.sde.last_step_size;
  } else {
    grid.points = spec.steps + 1;
    grid.end_eps = spec.end_eps;
  }
  return make_time_grid(grid);
}

int64_t expected_nfe(const SamplerSpec& spec) {
  switch (spec.family) {
    case SamplerFamily::multiplicative: return expected_nfe(spec.multiplicative);
    case SamplerFamily::sde: return count_sde_nfe(spec.sde.solver, spec.sde.last_step, spec.steps);
    case SamplerFamily::ode: break;
  }
  return count_nfe(spec.ode_solver, spec.steps, spec.heun_last_step_euler);
}

}  // namespace fluxion::samplers
