#include "samplers/path.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "core/error.h"

namespace fluxion::samplers {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

constexpr double kPi = 3.14159265358979323846;

}  // namespace

PathType parse_path_type(const std::string& name) {
  const std::string key = lower(name);
  if (key == "linear") return PathType::linear;
  if (key == "gvp") return PathType::gvp;
  if (key == "vp") return PathType::vp;
  fail("path type '", name, "' is unknown; valid: linear, gvp, vp");
}

std::string to_string(PathType type) {
  switch (type) {
    case PathType::linear: return "linear";
    case PathType::gvp: return "gvp";
    case PathType::vp: return "vp";
  }
  return "?";
}

DiffusionForm parse_diffusion_form(const std::string& name) {
  const std::string key = lower(name);
  if (key == "constant") return DiffusionForm::constant;
  if (key == "sbdm") return DiffusionForm::sbdm;
  if (key == "sigma") return DiffusionForm::sigma;
  if (key == "linear") return DiffusionForm::linear;
  if (key == "decreasing") return DiffusionForm::decreasing;
  if (key == "increasing-decreasing" || key == "inccreasing-decreasing") return DiffusionForm::increasing_decreasing;
  fail("diffusion form '", name,
       "' is unknown; valid: constant, SBDM, sigma, linear, decreasing, increasing-decreasing");
}

std::string to_string(DiffusionForm form) {
  switch (form) {
    case DiffusionForm::constant: return "constant";
    case DiffusionForm::sbdm: return "SBDM";
    case DiffusionForm::sigma: return "sigma";
    case DiffusionForm::linear: return "linear";
    case DiffusionForm::decreasing: return "decreasing";
    case DiffusionForm::increasing_decreasing: return "increasing-decreasing";
  }
  return "?";
}

Path::Path(PathType type, double vp_sigma_min, double vp_sigma_max)
    : type_(type), sigma_min_(vp_sigma_min), sigma_max_(vp_sigma_max) {}

torch::Tensor Path::expand_t_like(const torch::Tensor& t, const torch::Tensor& x) {
  if (t.dim() == 0) return t;
  FLUXION_CHECK(t.dim() == 1 && x.dim() >= 1 && t.size(0) == x.size(0), "path: t of shape ", t.sizes(),
                " does not match a batch of shape ", x.sizes());
  std::vector<int64_t> shape(x.dim(), 1);
  shape[0] = t.size(0);
  return t.view(shape);  // (B) -> (B, 1, ..., 1)
}

torch::Tensor Path::vp_log_alpha(const torch::Tensor& t) const {
  const auto one_minus = 1.0 - t;
  return -0.25 * one_minus * one_minus * (sigma_max_ - sigma_min_) - 0.5 * one_minus * sigma_min_;
}

torch::Tensor Path::vp_d_log_alpha(const torch::Tensor& t) const {
  return 0.5 * (1.0 - t) * (sigma_max_ - sigma_min_) + 0.5 * sigma_min_;
}

torch::Tensor Path::alpha(const torch::Tensor& t) const {
  switch (type_) {
    case PathType::linear: return t.clone();
    case PathType::gvp: return torch::sin(t * (kPi / 2));
    case PathType::vp: return torch::exp(vp_log_alpha(t));
  }
  return {};
}

torch::Tensor Path::sigma(const torch::Tensor& t) const {
  switch (type_) {
    case PathType::linear: return 1.0 - t;
    case PathType::gvp: return torch::cos(t * (kPi / 2));
    case PathType::vp: return torch::sqrt(1.0 - torch::exp(2.0 * vp_log_alpha(t)));
  }
  return {};
}

torch::Tensor Path::d_alpha(const torch::Tensor& t) const {
  switch (type_) {
    case PathType::linear: return torch::ones_like(t);
    case PathType::gvp: return (kPi / 2) * torch::cos(t * (kPi / 2));
    case PathType::vp: return torch::exp(vp_log_alpha(t)) * vp_d_log_alpha(t);
  }
  return {};
}

torch::Tensor Path::d_sigma(const torch::Tensor& t) const {
  switch (type_) {
    case PathType::linear: return -torch::ones_like(t);
    case PathType::gvp: return (-kPi / 2) * torch::sin(t * (kPi / 2));
    case PathType::vp: {
      const auto alpha_sq = torch::exp(2.0 * vp_log_alpha(t));
      // d/dt sqrt(1 - alpha^2) = -alpha^2 (d log alpha) / sigma
      return -alpha_sq * vp_d_log_alpha(t) / torch::sqrt(1.0 - alpha_sq);
    }
  }
  return {};
}

torch::Tensor Path::d_alpha_alpha_ratio(const torch::Tensor& t) const {
  switch (type_) {
    case PathType::linear: return 1.0 / t;
    case PathType::gvp: return kPi / (2.0 * torch::tan(t * (kPi / 2)));
    case PathType::vp: return vp_d_log_alpha(t);
  }
  return {};
}

torch::Tensor Path::interpolate(const torch::Tensor& t, const torch::Tensor& noise, const torch::Tensor& data) const {
  const auto tb = expand_t_like(t, data);
  return alpha(tb) * data + sigma(tb) * noise;
}

torch::Tensor Path::target_velocity(const torch::Tensor& t, const torch::Tensor& noise,
                                    const torch::Tensor& data) const {
  const auto tb = expand_t_like(t, data);
  return d_alpha(tb) * data + d_sigma(tb) * noise;
}

Path::Drift Path::compute_drift(const torch::Tensor& x, const torch::Tensor& t) const {
  const auto tb = expand_t_like(t, x);
  const auto ratio = d_alpha_alpha_ratio(tb);
  const auto s = sigma(tb);
  Drift drift;
  drift.mean = -ratio * x;
  drift.var = ratio * s * s - s * d_sigma(tb);
  return drift;
}

torch::Tensor Path::compute_diffusion(const torch::Tensor& x, const torch::Tensor& t, DiffusionForm form,
                                      double norm) const {
  const auto tb = expand_t_like(t, x);
  switch (form) {
    case DiffusionForm::constant: return torch::full_like(tb, norm);
    case DiffusionForm::sbdm: return norm * compute_drift(x, t).var;
    case DiffusionForm::sigma: return norm * sigma(tb);
    case DiffusionForm::linear: return norm * (1.0 - tb);
    case DiffusionForm::decreasing: {
      const auto c = norm * torch::cos(kPi * tb) + 1.0;
      return 0.25 * c * c;
    }
    case DiffusionForm::increasing_decreasing: {
      const auto s = torch::sin(kPi * tb);
      return norm * s * s;
    }
  }
  return {};
}

}  // namespace fluxion::samplers
