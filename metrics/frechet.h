#pragma once
// Fréchet distance between two Gaussians, computed in float64 as pytorch-fid defines it:
//   FD = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr sqrt(S1 S2).
// tr sqrt(S1 S2) is the sum of Re sqrt(lambda) over the eigenvalues of S1 S2 (LAPACK geev): the
// trace of scipy's sqrtm without its cost or its 1.11-1.12 regression. pytorch-fid's singular
// rule is kept: when the result is not finite, eps = 1e-6 is added to both diagonals and the
// trace recomputed; an imaginary part above 1e-3 is an error.
#include <torch/torch.h>

namespace fluxion::metrics {

// Mean (D) and covariance (D, D, divided by N - 1), float64 on the CPU.
struct GaussianStats {
  torch::Tensor mu;
  torch::Tensor sigma;
  int64_t count = 0;  // samples behind the statistics; 0 when unknown (loaded from a file)
};

struct FrechetOptions {
  double eps = 1e-6;               // diagonal offset of the singular retry
  double max_imaginary = 1e-3;     // fail when some |Im sqrt(lambda)| exceeds this
  bool always_regularize = false;  // add eps even when the plain result is finite
};

struct FrechetResult {
  double distance = 0;
  double mean_term = 0;      // |mu1 - mu2|^2
  double trace_sqrt = 0;     // tr sqrt(S1 S2) actually used
  double max_imaginary = 0;  // largest |Im sqrt(lambda)| seen
  bool regularized = false;  // eps was added
};

FrechetResult frechet_distance_detailed(const torch::Tensor& mu1, const torch::Tensor& sigma1, const torch::Tensor& mu2,
                                        const torch::Tensor& sigma2, const FrechetOptions& options = {});

double frechet_distance(const torch::Tensor& mu1, const torch::Tensor& sigma1, const torch::Tensor& mu2,
                        const torch::Tensor& sigma2);
double frechet_distance(const GaussianStats& a, const GaussianStats& b);

// tr sqrt(A B) for symmetric positive semi-definite A, B through the symmetric form
// sqrt(A) B sqrt(A) (eigh twice): an independent cross-check of the geev path.
double trace_sqrt_product_symmetric(const torch::Tensor& a, const torch::Tensor& b);

}  // namespace fluxion::metrics
