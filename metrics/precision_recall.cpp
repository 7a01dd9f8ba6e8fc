#include "core/error.h"
#include "metrics/sample_metrics.h"

namespace fluxion::metrics {

namespace {
// |a - b|^2 for every pair: (A, d), (B, d) -> (A, B), clamped at 0 against rounding
torch::Tensor squared_distances(const torch::Tensor& a, const torch::Tensor& b) {
  const auto a2 = a.pow(2).sum(1, true);
  const auto b2 = b.pow(2).sum(1).unsqueeze(0);
  return (a2 - 2.0 * torch::mm(a, b.t()) + b2).clamp_min(0);
}

// For each row of `points`: is it within radius of some row of `centres`?
torch::Tensor inside_any_ball(const torch::Tensor& points, const torch::Tensor& centres, const torch::Tensor& radii,
                              int64_t block) {
  auto inside = torch::zeros({points.size(0)}, torch::TensorOptions().dtype(torch::kBool).device(points.device()));
  for (int64_t i = 0; i < points.size(0); i += block) {
    const int64_t rows = std::min(block, points.size(0) - i);
    auto hit = torch::zeros({rows}, inside.options());
    for (int64_t j = 0; j < centres.size(0); j += block) {
      const int64_t cols = std::min(block, centres.size(0) - j);
      const auto d = squared_distances(points.narrow(0, i, rows), centres.narrow(0, j, cols));
      hit = hit.logical_or((d <= radii.narrow(0, j, cols).unsqueeze(0)).any(1));
    }
    inside.narrow(0, i, rows).copy_(hit);
  }
  return inside;
}
}  // namespace

torch::Tensor knn_radii(const torch::Tensor& features, int64_t k, int64_t block, torch::ScalarType dtype) {
  const auto x = features.to(dtype);
  const int64_t n = x.size(0);
  FLUXION_CHECK(k >= 1 && k < n, "precision/recall: k = ", k, " needs more than k points, have ", n);
  auto radii = torch::empty({n}, x.options());
  for (int64_t i = 0; i < n; i += block) {
    const int64_t rows = std::min(block, n - i);
    const auto d = squared_distances(x.narrow(0, i, rows), x);
    // the (k+1)-th smallest counts the point itself at distance 0
    radii.narrow(0, i, rows).copy_(std::get<0>(d.kthvalue(k + 1, 1)));
  }
  return radii;
}

PrecisionRecall precision_recall(const torch::Tensor& reference, const torch::Tensor& samples,
                                 const PrecisionRecallOptions& options) {
  FLUXION_CHECK(reference.dim() == 2 && samples.dim() == 2 && reference.size(1) == samples.size(1),
                "precision/recall: feature shapes ", reference.sizes(), " and ", samples.sizes(), " differ");
  const auto real = reference.to(options.dtype);
  const auto fake = samples.to(real.device(), options.dtype);
  const auto real_radii = knn_radii(real, options.k, options.block, options.dtype);
  const auto fake_radii = knn_radii(fake, options.k, options.block, options.dtype);
  PrecisionRecall out;
  out.precision = inside_any_ball(fake, real, real_radii, options.block).to(torch::kDouble).mean().item<double>();
  out.recall = inside_any_ball(real, fake, fake_radii, options.block).to(torch::kDouble).mean().item<double>();
  return out;
}

}  // namespace fluxion::metrics
