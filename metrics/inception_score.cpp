#include <cmath>

#include "core/error.h"
#include "metrics/numpy_random.h"
#include "metrics/sample_metrics.h"

namespace fluxion::metrics {

MeanStd inception_score(const torch::Tensor& logits_in, const InceptionScoreOptions& options) {
  FLUXION_CHECK(logits_in.dim() == 2, "inception score: logits must be (N, K), got shape ", logits_in.sizes());
  const int64_t n = logits_in.size(0);
  FLUXION_CHECK(options.splits >= 1 && options.splits <= n, "inception score: ", options.splits, " splits for ", n,
                " samples");
  auto logits = logits_in.to(torch::kCPU, torch::kDouble);
  if (options.permute_seed >= 0) {
    NumpyRandomState rng(static_cast<uint32_t>(options.permute_seed));
    const auto order = rng.permutation(n);
    logits = logits.index_select(0, torch::tensor(order, torch::kLong));
  }
  const auto log_p = torch::log_softmax(logits, 1);
  const auto p = log_p.exp();
  std::vector<double> scores;
  for (int64_t i = 0; i < options.splits; ++i) {
    const int64_t begin = i * n / options.splits, end = (i + 1) * n / options.splits;
    const auto p_split = p.narrow(0, begin, end - begin);
    const auto log_q = p_split.mean(0, /*keepdim=*/true).log();
    const auto kl = (p_split * (log_p.narrow(0, begin, end - begin) - log_q)).sum(1);
    scores.push_back(std::exp(kl.mean().item<double>()));
  }
  MeanStd out;
  for (double s : scores) out.mean += s;
  out.mean /= static_cast<double>(scores.size());
  for (double s : scores) out.std += (s - out.mean) * (s - out.mean);
  out.std = std::sqrt(out.std / static_cast<double>(scores.size()));
  return out;
}

}  // namespace fluxion::metrics
