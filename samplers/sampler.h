#pragma once
// One entry point for every sampler: a SamplerConfig names the solver and its settings, sample()
// runs it on a model callable from noise and reports the exact NFE. `fluxion sample` binds its
// options to SamplerConfig's fields.
//
// Step counts:
//   euler, heun, midpoint, rk4, dpm++2m: `steps` steps on steps + 1 times in [start_eps, 1 -
//   end_eps] dopri5: adaptive on [start_eps, 1 - end_eps]; `steps` is unused (SiT's use of it is
//   output
//           points only); atol, rtol and max_steps control it
//   euler-maruyama, sde-heun: SiT's convention, `steps` grid times in
//           [start_eps, 1 - last_step_size] (or 1 - end_eps when last_step is none), i.e. steps - 1
//           stochastic steps plus the last step
// NFE counts calls of the (guided) model callable; with CFG in one batch each call is a forward of
// twice the batch, with separate passes two forwards.
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "samplers/guidance.h"
#include "samplers/model_fn.h"

namespace fluxion::samplers {

struct SamplerConfig {
  std::string name = "euler";  // euler|heun|midpoint|rk4|dopri5|dpm++2m|euler-maruyama|sde-heun
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
  // classifier-free guidance (used by the conditional overload of sample())
  double cfg_scale = 1.0;
  double cfg_interval_lo = 0.0;
  double cfg_interval_hi = 1.0;
  int64_t cfg_channels = -1;         // -1 all, 3 for SiT's rule
  std::string cfg_space = "output";  // output (SiT) | velocity (JiT)
  bool cfg_separate_passes = false;
  int64_t null_label = 1000;
};

// The valid sampler names, in the order listed in error messages.
const std::vector<std::string>& sampler_names();

// Throws a one-line fluxion::Error naming the bad field (unknown names list the valid ones).
void validate(const SamplerConfig& config);

// config with start_eps / end_eps set to SiT's Transport.check_interval for its path, prediction,
// sampler kind and diffusion form (sit_sample_interval in time_grid.h): e.g. noise or score
// predictions start at 1e-3, SBDM SDEs too, VP ends at 1 - 1e-3.
SamplerConfig with_sit_interval(SamplerConfig config);

// The guidance settings carried by a SamplerConfig.
GuidanceConfig guidance_config(const SamplerConfig& config);

// The time grid the fixed-step ODE or SDE samplers use (empty for dopri5).
std::vector<double> sampler_time_grid(const SamplerConfig& config);

// NFE of a run, known in advance; -1 for dopri5.
int64_t expected_nfe(const SamplerConfig& config);

// "heun, 50 steps, 99 NFE", "dopri5, atol 1e-06, rtol 0.001, adaptive NFE", plus CFG settings.
std::string describe(const SamplerConfig& config);

struct SampleResult {
  torch::Tensor x;
  int64_t nfe = 0;
  int64_t accepted_steps = 0;
  int64_t rejected_steps = 0;  // dopri5
};

// Samples from `noise` (at start_eps) with a model predicting config.prediction. The generator is
// used by the SDE samplers only.
SampleResult sample(const SamplerConfig& config, const ModelFn& model, const torch::Tensor& noise,
                    at::Generator& generator);

// Conditional model with classifier-free guidance from config's cfg_* fields.
SampleResult sample(const SamplerConfig& config, const ConditionalModelFn& model,
                    const torch::Tensor& labels, const torch::Tensor& noise,
                    at::Generator& generator);

}  // namespace fluxion::samplers
