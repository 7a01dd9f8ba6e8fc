#include <cmath>

#include "core/error.h"
#include "metrics/numpy_random.h"
#include "metrics/sample_metrics.h"

namespace fluxion::metrics {

double kid_mmd2(const torch::Tensor& x_in, const torch::Tensor& y_in) {
  FLUXION_CHECK(x_in.dim() == 2 && x_in.sizes() == y_in.sizes() && x_in.size(0) >= 2,
                "KID: needs two (m >= 2, d) sets of the same shape, got ", x_in.sizes(), " and ", y_in.sizes());
  const auto x = x_in.to(torch::kDouble);
  const auto y = y_in.to(x.device(), torch::kDouble);
  const double m = static_cast<double>(x.size(0));
  const double gamma = 1.0 / static_cast<double>(x.size(1));
  auto kernel = [&](const torch::Tensor& a, const torch::Tensor& b) {
    return (torch::mm(a, b.t()) * gamma + 1.0).pow(3);
  };
  const auto kxx = kernel(x, x), kyy = kernel(y, y), kxy = kernel(x, y);
  // off-diagonal sums of the within-set kernels
  const double sxx = (kxx.sum() - kxx.diagonal().sum()).item<double>();
  const double syy = (kyy.sum() - kyy.diagonal().sum()).item<double>();
  const double sxy = kxy.sum().item<double>();
  return (sxx + syy) / (m * (m - 1)) - 2.0 * sxy / (m * m);
}

MeanStd kernel_inception_distance(const torch::Tensor& features1, const torch::Tensor& features2,
                                  const KidOptions& options) {
  FLUXION_CHECK(features1.dim() == 2 && features2.dim() == 2 && features1.size(1) == features2.size(1),
                "KID: feature shapes ", features1.sizes(), " and ", features2.sizes(), " differ");
  const int64_t n1 = features1.size(0), n2 = features2.size(0);
  const int64_t m = std::min({options.subset_size, n1, n2});
  FLUXION_CHECK(m >= 2 && options.subsets >= 1, "KID: needs at least 2 samples per set, have ", n1, " and ", n2);
  NumpyRandomState rng(options.seed);
  std::vector<double> values;
  for (int64_t s = 0; s < options.subsets; ++s) {
    const auto i1 = torch::tensor(rng.choice_without_replacement(n1, m), torch::kLong);
    const auto i2 = torch::tensor(rng.choice_without_replacement(n2, m), torch::kLong);
    values.push_back(kid_mmd2(features1.index_select(0, i1.to(features1.device())),
                              features2.index_select(0, i2.to(features2.device()))));
  }
  MeanStd out;
  for (double v : values) out.mean += v;
  out.mean /= static_cast<double>(values.size());
  for (double v : values) out.std += (v - out.mean) * (v - out.mean);
  out.std = std::sqrt(out.std / static_cast<double>(values.size()));
  return out;
}

}  // namespace fluxion::metrics
