#include "reference_features.h"

#include <cmath>

namespace fluxion::test {

std::pair<torch::Tensor, torch::Tensor> reference_features() {
  auto X = torch::empty({64, 8}, torch::kDouble), Y = torch::empty({48, 8}, torch::kDouble);
  for (int i = 0; i < 64; ++i)
    for (int j = 0; j < 8; ++j) X[i][j] = std::sin(0.37 * (i + 1) * (j + 1)) + 0.05 * j;
  for (int i = 0; i < 48; ++i)
    for (int j = 0; j < 8; ++j) Y[i][j] = 1.1 * std::cos(0.23 * (i + 1) * (j + 2)) + 0.1;
  return {X, Y};
}

}  // namespace fluxion::test
