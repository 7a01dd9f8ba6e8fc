#pragma once
// Time grids for the fixed-step solvers, from t0 (near noise) to t1 (near data), increasing.
//
// Shift. RAE / SD3 shift the noise level tau by  tau' = s tau / (1 + (s - 1) tau), s > 1 spending
// more steps at high noise. Their tau is our 1 - t, so on our t the same map reads
//     t' = t / (s - (s - 1) t)       (= shift_time(t, 1/s); s = 1 is the identity).
// A grid is built as u = linspace(0, 1, n), shifted, then mapped affinely onto [t0, t1], so its
// endpoints are exactly t0 = start_eps and t1 = 1 - end_eps.
#include <torch/torch.h>

#include <vector>

#include "samplers/path.h"
#include "samplers/prediction.h"

namespace fluxion::samplers {

// The literal map t' = s t / (1 + (s - 1) t) on a value or a tensor.
double shift_time(double t, double shift);
torch::Tensor shift_time(const torch::Tensor& t, double shift);

// RAE's time shift applied to our t (noise at 0): the noise level 1 - t is shifted by s.
double shift_noise_level(double t, double shift);
torch::Tensor shift_noise_level(const torch::Tensor& t, double shift);

struct TimeGridConfig {
  int64_t points = 51;     // number of times (steps + 1 for an ODE)
  double start_eps = 0.0;  // t0 = start_eps
  double end_eps = 0.0;    // t1 = 1 - end_eps
  double shift = 1.0;      // noise-level shift (1 = uniform)
};

// `points` increasing times from start_eps to 1 - end_eps.
std::vector<double> make_time_grid(const TimeGridConfig& config);
// Convenience: the uniform grid linspace(t0, t1, points).
std::vector<double> uniform_grid(int64_t points, double t0 = 0.0, double t1 = 1.0);

// SiT's train/sample eps defaults (transport/__init__.py): velocity on linear/gvp -> 0, 0;
// noise or score on linear/gvp -> 1e-3, 1e-3; vp -> 1e-5, 1e-3.
struct SitEps {
  double train = 0.0;
  double sample = 0.0;
};
SitEps sit_default_eps(PathType path, PredictionType prediction);

// SiT's Transport.check_interval in forward time, with its eps given (the train or the sample
// one): the ends of [start, 1 - end] that its losses draw t from (sde = false) and its samplers
// integrate over. On VP the end stops eps short of 1; on linear/gvp a noise or score prediction,
// or any SDE, stops eps short of 1 and (noise/score predictions, SBDM SDEs) starts at eps; an
// SDE with a last step ends at 1 - last_step_size instead. Velocity ODEs on linear/gvp: [0, 1].
struct IntervalEps {
  double start = 0.0;
  double end = 0.0;
};
IntervalEps sit_interval_eps(PathType path, PredictionType prediction, double eps, bool sde = false,
                             DiffusionForm diffusion_form = DiffusionForm::sbdm, double last_step_size = 0.0);

// The same rule for sampling (eval = true) with SiT's sample eps, as the [t0, t1] its samplers
// integrate over.
struct TimeInterval {
  double t0 = 0.0;
  double t1 = 1.0;
};
TimeInterval sit_sample_interval(PathType path, PredictionType prediction, bool sde,
                                 DiffusionForm diffusion_form = DiffusionForm::sbdm, double last_step_size = 0.0);

}  // namespace fluxion::samplers
