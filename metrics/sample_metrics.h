#pragma once
// Inception Score, Kernel Inception Distance and k-NN precision/recall on feature matrices.
// All reductions run in float64.
#include <torch/torch.h>

#include <cstdint>

namespace fluxion::metrics {

struct MeanStd {
  double mean = 0;
  double std = 0;  // population standard deviation over splits / subsets (np.std)
};

// IS = exp(E_x KL(p(y|x) || p(y))) per split; mean and std over splits. Splits are the
// contiguous chunks [i N / s, (i+1) N / s). torch-fidelity's convention (10 splits after a
// RandomState(2020) permutation) is `permute_seed = 2020`; ADM's is contiguous 5000-sample
// chunks (`splits = N / 5000`, no permutation; it reports the mean). logits (N, K), e.g.
// InceptionOutputs::logits_nobias.
struct InceptionScoreOptions {
  int64_t splits = 10;
  int64_t permute_seed = -1;  // < 0: keep the given order
};
MeanStd inception_score(const torch::Tensor& logits, const InceptionScoreOptions& options = {});

// Unbiased MMD^2 with the polynomial kernel k(x, y) = (x.y / d + 1)^3 between two equally
// sized sets (m, d).
double kid_mmd2(const torch::Tensor& x, const torch::Tensor& y);

// KID: `subsets` pairs of subsets of size min(subset_size, n1, n2), drawn without replacement
// by NumPy's RandomState(seed) exactly as torch-fidelity does (seed 2020 there).
struct KidOptions {
  int64_t subsets = 100;
  int64_t subset_size = 1000;
  uint32_t seed = 2020;
};
MeanStd kernel_inception_distance(const torch::Tensor& features1, const torch::Tensor& features2,
                                  const KidOptions& options = {});

// ADM's manifold precision/recall (k = 3): a point's radius is its squared distance to its k-th
// nearest neighbour within its own set (itself excluded). Precision = fraction of samples
// inside some reference ball; recall = fraction of references inside some sample ball.
// Distances are computed blockwise (never N x N at once) in `dtype` on the features' device.
struct PrecisionRecallOptions {
  int64_t k = 3;
  int64_t block = 1024;
  torch::ScalarType dtype = torch::kFloat;
};
struct PrecisionRecall {
  double precision = 0;
  double recall = 0;
};
PrecisionRecall precision_recall(const torch::Tensor& reference, const torch::Tensor& samples,
                                 const PrecisionRecallOptions& options = {});

// Squared k-th nearest-neighbour distances of every row of `features` within the set.
torch::Tensor knn_radii(const torch::Tensor& features, int64_t k, int64_t block, torch::ScalarType dtype);

}  // namespace fluxion::metrics
