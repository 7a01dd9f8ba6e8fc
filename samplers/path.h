#pragma once
// Interpolation paths of flow matching, as in SiT's transport/path.py.
//
// Time convention (all of fluxion): t = 0 is pure noise, t = 1 is data, and
//     x_t = alpha(t) * x_data + sigma(t) * noise,      u_t = d_alpha(t) * x_data + d_sigma(t) *
//     noise.
//
//   linear: alpha = t, sigma = 1 - t
//   gvp:    alpha = sin(pi t / 2), sigma = cos(pi t / 2)
//   vp:     log alpha = -1/4 (1 - t)^2 (sigma_max - sigma_min) - 1/2 (1 - t) sigma_min,
//           sigma = sqrt(1 - alpha^2)            (sigma_min 0.1, sigma_max 20)
//
// Every method takes t of shape (B) (or a scalar tensor) and, where an x is given, broadcasts t as
// (B, 1, 1, ...) against x of shape (B, ...). Used by the samplers and by the trainer's targets.
#include <torch/torch.h>

#include <string>

namespace fluxion::samplers {

enum class PathType { linear, gvp, vp };

// "linear" | "gvp" | "vp" (case-insensitive, so SiT's "Linear", "GVP", "VP" parse too).
PathType parse_path_type(const std::string& name);
std::string to_string(PathType type);

// SiT's diffusion coefficient forms w(t) for the SDE dx = [v + w score] dt + sqrt(2 w) dW.
// SiT spells the last key "inccreasing-decreasing", which makes its own CLI choice fail; we accept
// the correct spelling (and SiT's misspelling as an alias).
enum class DiffusionForm { constant, sbdm, sigma, linear, decreasing, increasing_decreasing };
DiffusionForm parse_diffusion_form(const std::string& name);
std::string to_string(DiffusionForm form);

class Path {
 public:
  explicit Path(PathType type = PathType::linear, double vp_sigma_min = 0.1, double vp_sigma_max = 20.0);

  PathType type() const { return type_; }

  // t (B) -> (B, 1, ..., 1) with x's rank; a scalar t stays a scalar.
  static torch::Tensor expand_t_like(const torch::Tensor& t, const torch::Tensor& x);

  // Coefficients, elementwise in t (any shape).
  torch::Tensor alpha(const torch::Tensor& t) const;
  torch::Tensor sigma(const torch::Tensor& t) const;
  torch::Tensor d_alpha(const torch::Tensor& t) const;
  torch::Tensor d_sigma(const torch::Tensor& t) const;
  // d_alpha / alpha in the numerically stable form SiT uses (1/t, pi/(2 tan(pi t/2)), beta/2).
  torch::Tensor d_alpha_alpha_ratio(const torch::Tensor& t) const;

  // x_t = alpha x_data + sigma noise, t (B) against (B, ...).
  torch::Tensor interpolate(const torch::Tensor& t, const torch::Tensor& noise, const torch::Tensor& data) const;
  // The conditional velocity target u_t = d_alpha x_data + d_sigma noise.
  torch::Tensor target_velocity(const torch::Tensor& t, const torch::Tensor& noise, const torch::Tensor& data) const;

  // SiT's compute_drift: the probability-flow velocity is v = -mean + var * score, with
  // mean = -(d_alpha/alpha) x and var = (d_alpha/alpha) sigma^2 - sigma d_sigma (shaped like x
  // after broadcasting; var is (B, 1, ...)).
  struct Drift {
    torch::Tensor mean;
    torch::Tensor var;
  };
  Drift compute_drift(const torch::Tensor& x, const torch::Tensor& t) const;

  // SiT's compute_diffusion: w(t) as (B, 1, ..., 1) against x.
  //   constant: norm; sbdm: norm * drift var; sigma: norm * sigma(t); linear: norm (1 - t);
  //   decreasing: 1/4 (norm cos(pi t) + 1)^2; increasing-decreasing: norm sin^2(pi t).
  torch::Tensor compute_diffusion(const torch::Tensor& x, const torch::Tensor& t, DiffusionForm form,
                                  double norm = 1.0) const;

 private:
  torch::Tensor vp_log_alpha(const torch::Tensor& t) const;
  torch::Tensor vp_d_log_alpha(const torch::Tensor& t) const;

  PathType type_;
  double sigma_min_;
  double sigma_max_;
};

}  // namespace fluxion::samplers
