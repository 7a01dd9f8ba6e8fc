#pragma once
// Which sampler to run and how: SamplerConfig is what a user writes (`fluxion sample` binds its
// options to these fields; names are strings there), SamplerSpec is the same thing parsed and
// validated once, at that edge, into the typed settings the solvers take. Everything after the
// edge (sample(), the objectives' bridges) reads the spec and never a name again.
//
// Families and step counts:
//   ode   euler, heun, midpoint, rk4, dpm++2m: `steps` steps on steps + 1 times in
//         [start_eps, 1 - end_eps]; dopri5: adaptive on [start_eps, 1 - end_eps], `steps` unused
//         (SiT's use of it is output points only); atol, rtol and max_steps control it
//   sde   euler-maruyama, sde-heun: SiT's convention, `steps` grid times in
//         [start_eps, 1 - last_step_size] (or 1 - end_eps when last_step is none), i.e.
//         steps - 1 stochastic steps plus the last step
//   multiplicative  dls, ums (samplers/multiplicative.h): the Dale-Langevin samplers of positive
//         data; `levels` / `level_stride` / `repeats` set the steps, and the process (sigma, mu,
//         levels, horizon) is the one the model was trained on (the Dale objective fills it in)
// NFE counts calls of the (guided) model callable; with CFG in one batch each call is a forward of
// twice the batch, with separate passes two forwards.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "samplers/guidance.h"
#include "samplers/multiplicative.h"
#include "samplers/ode.h"
#include "samplers/path.h"
#include "samplers/prediction.h"
#include "samplers/sde.h"

namespace fluxion::samplers {

struct SamplerConfig {
  // euler|heun|midpoint|rk4|dopri5|dpm++2m|euler-maruyama|sde-heun|dls|ums
  std::string name = "euler";
  int64_t steps = 50;
  // dopri5
  double atol = 1e-6;
  double rtol = 1e-3;
  int64_t max_steps = 100000;
  // time grid
  double time_shift = 1.0;  // noise-level shift s (time_grid.h); 1 = uniform
  double start_eps = 0.0;
  double end_eps = 0.0;
  bool heun_last_step_euler = false;  // JiT's Heun
  // SDE
  std::string diffusion_form = "sigma";
  double diffusion_norm = 1.0;
  std::string last_step = "mean";
  double last_step_size = 0.04;
  // what the model predicts, on which path
  std::string path = "linear";
  std::string prediction = "velocity";
  double t_eps = 0.0;  // JiT's clamp of 1 - t for x-prediction (0.05)
  // classifier-free guidance (ode and sde samplers of a conditional model)
  double cfg_scale = 1.0;
  double cfg_interval_lo = 0.0;
  double cfg_interval_hi = 1.0;
  int64_t cfg_channels = -1;         // -1 all, 3 for SiT's rule
  std::string cfg_space = "output";  // output (SiT) | velocity (JiT)
  bool cfg_separate_passes = false;
  int64_t null_label = 1000;
  // dls, ums: the schedule (multiplicative.h), then the process the model was trained on
  double delta = 0.0;  // 0: stride T / N
  int64_t repeats = 1;
  double anneal = 1.0;
  int64_t final_steps = 0;
  int64_t level_stride = 1;
  bool last_noise = false;
  double gbm_sigma = 0.8;
  double gbm_mu = 0.32;
  int64_t levels = 1000;
  double horizon = 1.0;
};

enum class SamplerFamily { ode, sde, multiplicative };

// A SamplerConfig parsed and validated (parse_sampler). Only the fields of its family are set.
struct SamplerSpec {
  SamplerFamily family = SamplerFamily::ode;
  OdeSolver ode_solver = OdeSolver::euler;  // ode
  SdeConfig sde;                            // sde: solver, diffusion, last step
  MultiplicativeConfig multiplicative;      // multiplicative: rule, schedule and process
  int64_t steps = 50;                       // ode, sde
  Dopri5Options dopri5;                     // atol, rtol, max_steps
  double time_shift = 1.0;
  double start_eps = 0.0;
  double end_eps = 0.0;
  bool heun_last_step_euler = false;
  PathType path = PathType::linear;
  PredictionType prediction = PredictionType::velocity;
  ConversionOptions conversion;  // t_eps
  GuidanceConfig guidance;
  // "heun, 50 steps, 99 NFE", "dopri5, atol 1e-06, rtol 0.001, adaptive NFE", plus CFG settings;
  // "dls, 1000 levels x 1, delta 0.001, ..." for the multiplicative family.
  std::string description;
};

// The flow samplers (ode and sde families), in the order listed in error messages.
const std::vector<std::string>& sampler_names();
// The multiplicative family: dls, ums.
const std::vector<std::string>& multiplicative_sampler_names();

// The family a sampler name belongs to; nullopt for a name no family has.
std::optional<SamplerFamily> sampler_family(const std::string& name);

// Throws a one-line fluxion::Error naming the bad field (unknown names list the valid ones).
// Only the fields the named sampler's family reads are checked.
SamplerSpec parse_sampler(const SamplerConfig& config);

// config with start_eps / end_eps set to SiT's Transport.check_interval for its path, prediction,
// sampler kind and diffusion form (sit_sample_interval in time_grid.h): e.g. noise or score
// predictions start at 1e-3, SBDM SDEs too, VP ends at 1 - 1e-3. Flow samplers only.
SamplerConfig with_sit_interval(SamplerConfig config);

// The time grid the fixed-step ODE or SDE samplers use (empty for dopri5 and the multiplicative
// family, which walks its own levels).
std::vector<double> sampler_time_grid(const SamplerSpec& spec);

// NFE of a run, known in advance; -1 for dopri5.
int64_t expected_nfe(const SamplerSpec& spec);

}  // namespace fluxion::samplers
