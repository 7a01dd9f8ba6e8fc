#pragma once
// Deterministic solvers of the probability-flow ODE dx/dt = v(x, t), integrating forward in t
// over a grid (noise at 0, data at 1). Each returns the final x and the exact number of function
// evaluations (NFE) it made; count_nfe() gives the same number in advance for fixed-step solvers.
//
//   euler     x += h v(x, t)                                              N NFE
//   heun      trapezoid predictor-corrector; last step Euler as JiT        2N, or 2N - 1
//   midpoint  x += h v(x + h/2 v(x, t), t + h/2)                          2N
//   rk4       classic Runge-Kutta 4                                       4N
//   dopri5    adaptive Dormand-Prince 5(4), torchdiffeq's controller       reported
//   dpm++2m   DPM-Solver++(2M) on the data prediction (see below)         N
//
// DPM-Solver++ in flow-matching form. With x_t = a x1 + s x0 and the data prediction
// D(x, t) = E[x1 | x_t], the ODE is dx/dt = (ds/s) x + (da - a ds/s) D. Multiplying by 1/s:
//     d(x/s)/dt = (da/s - a ds/s^2) D = d(a/s)/dt D = e^lambda dlambda/dt D,   lambda = log(a/s),
// so exactly  x_t / s_t = x_u / s_u + integral_{lambda_u}^{lambda_t} e^lambda D dlambda.
// Holding D constant gives the first-order step
//     x_t = (s_t/s_u) x_u + a_t (1 - e^{-h}) D_u,           h = lambda_t - lambda_u,
// and 2M replaces D_u by (1 + 1/(2r)) D_u - 1/(2r) D_prev with r = h_prev / h (Lu et al. 2022).
// The ends need no epsilon: e^{-h} = (a_u s_t)/(s_u a_t) and s_t/s_u are finite at t = 0 (a = 0,
// lambda = -inf) and t = 1 (s = 0, lambda = +inf); a step whose h or previous h is infinite (the
// first step from t = 0, the last step to t = 1) falls back to first order. The model is never
// evaluated at the grid's last time.
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "samplers/model_fn.h"
#include "samplers/path.h"

namespace fluxion::samplers {

enum class OdeSolver { euler, heun, midpoint, rk4, dopri5, dpm_pp_2m };

// "euler" | "heun" | "midpoint" | "rk4" | "dopri5" | "dpm++2m".
OdeSolver parse_ode_solver(const std::string& name);
std::string to_string(OdeSolver solver);

struct OdeResult {
  torch::Tensor x;
  int64_t nfe = 0;
  int64_t accepted_steps = 0;          // fixed-step solvers: the number of steps
  int64_t rejected_steps = 0;          // dopri5 only
  std::vector<torch::Tensor> outputs;  // dopri5: x at each requested output time
};

// Fixed-step solvers over an increasing grid of >= 2 times.
OdeResult euler(const Field& velocity, torch::Tensor x, const std::vector<double>& grid);
OdeResult heun(const Field& velocity, torch::Tensor x, const std::vector<double>& grid, bool last_step_euler = false);
OdeResult midpoint(const Field& velocity, torch::Tensor x, const std::vector<double>& grid);
OdeResult rk4(const Field& velocity, torch::Tensor x, const std::vector<double>& grid);

struct Dopri5Options {
  double atol = 1e-6;  // SiT's defaults
  double rtol = 1e-3;
  int64_t max_steps = 100000;  // attempted steps before giving up with an error
  double first_step = 0.0;     // 0: Hairer's initial-step heuristic (one extra NFE)
  // Times in (t0, t1] at which to record x; steps are clipped to land on them exactly.
  std::vector<double> output_times;
};
// Adaptive Dormand-Prince 5(4) with FSAL from t0 to t1; the error norm is the RMS over the whole
// batch of err / (atol + rtol max(|x_old|, |x_new|)), as torchdiffeq (so SiT) computes it.
OdeResult dopri5(const Field& velocity, torch::Tensor x, double t0, double t1, const Dopri5Options& options = {});

// DPM-Solver++(2M); `data` predicts x1 = E[x_data | x_t] (use converted_model(..., x)).
OdeResult dpm_solver_pp_2m(const Field& data, torch::Tensor x, const std::vector<double>& grid, const Path& path);

// NFE of a fixed-step solver over `steps` steps; -1 for dopri5 (known only afterwards).
int64_t count_nfe(OdeSolver solver, int64_t steps, bool heun_last_step_euler = false);

}  // namespace fluxion::samplers
