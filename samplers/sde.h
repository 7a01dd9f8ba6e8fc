#pragma once
// Stochastic samplers of SiT (transport/integrators.py, transport.py):
//     dx = [v(x, t) + w(t) score(x, t)] dt + sqrt(2 w(t)) dW,     t increasing from noise to data,
// with w(t) one of SiT's diffusion forms (path.h). Velocity and score both come from ONE model
// evaluation through prediction.h (SiT evaluates the model twice for them).
//
// Grid: SiT's linspace(t0, t1, num_steps) gives num_steps - 1 stochastic steps, then a last step
// from t1 of size last_step_size (SiT default t1 = 1 - 0.04):
//   none     x                                                     (0 NFE)
//   mean     x + [v + w score](x, t1) * size   (drift only, no noise; SiT's default)
//   tweedie  x / alpha(t1) + sigma(t1)^2 / alpha(t1) * score(x, t1)
//   euler    x + v(x, t1) * size
// Steps:
//   euler-maruyama  x' = x + drift(x, t) dt + sqrt(2 w(t)) dW                     1 NFE
//   heun            x^ = x + sqrt(2 w(t)) dW; K1 = drift(x^, t);                    2 NFE
//                   K2 = drift(x^ + dt K1, t + dt); x' = x^ + dt/2 (K1 + K2)
// dW ~ N(0, dt) is drawn from the caller's generator (on the generator's device, then moved).
#include <torch/torch.h>

#include <string>
#include <vector>

#include "samplers/model_fn.h"
#include "samplers/path.h"
#include "samplers/prediction.h"

namespace fluxion::samplers {

enum class SdeSolver { euler_maruyama, heun };
enum class LastStep { none, mean, tweedie, euler };

// "euler-maruyama" | "euler" | "em"; "heun" | "sde-heun".
SdeSolver parse_sde_solver(const std::string& name);
std::string to_string(SdeSolver solver);
// "none" | "mean" | "tweedie" | "euler" (case-insensitive; SiT's "None", "Mean", ...).
LastStep parse_last_step(const std::string& name);
std::string to_string(LastStep step);

struct SdeConfig {
  SdeSolver solver = SdeSolver::euler_maruyama;
  DiffusionForm diffusion = DiffusionForm::sigma;  // SiT's CLI default
  double diffusion_norm = 1.0;
  LastStep last_step = LastStep::mean;
  double last_step_size = 0.04;
};

struct SdeResult {
  torch::Tensor x;
  int64_t nfe = 0;
  int64_t steps = 0;  // stochastic steps plus the last step when one is taken
};

// Integrates from x (noise at grid.front()) over the increasing grid, then takes the last step
// at grid.back(). `model` predicts `type`.
SdeResult sample_sde(const Field& model, PredictionType type, const Path& path, torch::Tensor x,
                     const std::vector<double>& grid, const SdeConfig& config, at::Generator& generator,
                     const ConversionOptions& conversion = {});

// Exact NFE for a grid of `grid_points` times.
int64_t count_sde_nfe(SdeSolver solver, LastStep last_step, int64_t grid_points);

}  // namespace fluxion::samplers
