#include "metrics/frechet.h"

#include <cmath>

#include "core/error.h"

namespace fluxion::metrics {

namespace {
torch::Tensor as_cpu_double(const torch::Tensor& t) { return t.to(torch::kCPU, torch::kDouble).contiguous(); }

struct TraceSqrt {
  double value = 0;
  double max_imaginary = 0;
  bool finite = true;
};

TraceSqrt trace_sqrt_product(const torch::Tensor& s1, const torch::Tensor& s2) {
  TraceSqrt out;
  const auto product = torch::mm(s1, s2);
  if (!torch::isfinite(product).all().item<bool>()) {
    out.finite = false;
    return out;
  }
  // (D, D) -> (D) complex eigenvalues; principal square roots
  const auto roots = torch::sqrt(torch::linalg_eigvals(product));
  const auto parts = torch::view_as_real(roots);  // (D, 2)
  out.value = parts.select(1, 0).sum().item<double>();
  out.max_imaginary = parts.select(1, 1).abs().max().item<double>();
  out.finite = std::isfinite(out.value) && std::isfinite(out.max_imaginary);
  return out;
}
}  // namespace

FrechetResult frechet_distance_detailed(const torch::Tensor& mu1_in, const torch::Tensor& sigma1_in,
                                        const torch::Tensor& mu2_in, const torch::Tensor& sigma2_in,
                                        const FrechetOptions& options) {
  const auto mu1 = as_cpu_double(mu1_in).flatten();
  const auto mu2 = as_cpu_double(mu2_in).flatten();
  const auto sigma1 = as_cpu_double(sigma1_in);
  const auto sigma2 = as_cpu_double(sigma2_in);
  const int64_t d = mu1.size(0);
  FLUXION_CHECK(mu2.size(0) == d, "frechet distance: mean dimensions differ (", d, " vs ", mu2.size(0), ")");
  FLUXION_CHECK(sigma1.dim() == 2 && sigma1.size(0) == d && sigma1.size(1) == d,
                "frechet distance: first covariance has shape ", sigma1.sizes(), ", expected (", d, ", ", d, ")");
  FLUXION_CHECK(sigma2.dim() == 2 && sigma2.size(0) == d && sigma2.size(1) == d,
                "frechet distance: second covariance has shape ", sigma2.sizes(), ", expected (", d, ", ", d, ")");

  FrechetResult result;
  TraceSqrt t;
  if (!options.always_regularize) t = trace_sqrt_product(sigma1, sigma2);
  if (options.always_regularize || !t.finite) {
    const auto offset = torch::eye(d, torch::kDouble) * options.eps;
    t = trace_sqrt_product(sigma1 + offset, sigma2 + offset);
    result.regularized = true;
    FLUXION_CHECK(t.finite, "frechet distance: tr sqrt(S1 S2) is not finite even with eps ", options.eps,
                  " on the diagonals (non-finite statistics?)");
  }
  FLUXION_CHECK(t.max_imaginary <= options.max_imaginary, "frechet distance: imaginary component ", t.max_imaginary,
                " in sqrt(S1 S2) exceeds ", options.max_imaginary);
  const auto diff = mu1 - mu2;
  result.mean_term = diff.dot(diff).item<double>();
  result.trace_sqrt = t.value;
  result.max_imaginary = t.max_imaginary;
  result.distance = result.mean_term + sigma1.trace().item<double>() + sigma2.trace().item<double>() - 2.0 * t.value;
  return result;
}

double frechet_distance(const torch::Tensor& mu1, const torch::Tensor& sigma1, const torch::Tensor& mu2,
                        const torch::Tensor& sigma2) {
  return frechet_distance_detailed(mu1, sigma1, mu2, sigma2).distance;
}

double frechet_distance(const GaussianStats& a, const GaussianStats& b) {
  return frechet_distance(a.mu, a.sigma, b.mu, b.sigma);
}

double trace_sqrt_product_symmetric(const torch::Tensor& a_in, const torch::Tensor& b_in) {
  const auto a = as_cpu_double(a_in);
  const auto b = as_cpu_double(b_in);
  // sqrt(A) = V diag(sqrt(max(w, 0))) V^T
  auto [w, v] = torch::linalg_eigh(a);
  const auto sqrt_a = torch::mm(v * w.clamp_min(0).sqrt().unsqueeze(0), v.t());
  auto m = torch::mm(torch::mm(sqrt_a, b), sqrt_a);
  m = 0.5 * (m + m.t());
  const auto mu = std::get<0>(torch::linalg_eigh(m));
  return mu.clamp_min(0).sqrt().sum().item<double>();
}

}  // namespace fluxion::metrics
