#pragma once
// The feature matrices whose metric values shared/reference/metrics.md lists (computed there with
// the reference implementations), so metric tests can compare against them.
#include <torch/torch.h>

#include <utility>

namespace fluxion::test {

// X[i,j] = sin(0.37 (i+1)(j+1)) + 0.05 j (64 x 8), Y[i,j] = 1.1 cos(0.23 (i+1)(j+2)) + 0.1 (48 x 8),
// float64.
std::pair<torch::Tensor, torch::Tensor> reference_features();

}  // namespace fluxion::test
