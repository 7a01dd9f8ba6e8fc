#pragma once
// Shared by the kernel emulation tests: tensor dtypes as the kernels name them, and a tolerance
// check scaled by the reference's magnitude.
// torch before Catch: LibTorch's glog defines CHECK too, and the later definition wins
#include <torch/torch.h>
// clang-format off
#include <catch2/catch.hpp>
// clang-format on

#include "models/cuda/dtype.h"

namespace fluxion::kernel_checks {

inline models::cuda::Dtype kernel_type(const torch::Tensor& t) {
  return t.scalar_type() == torch::kFloat ? models::cuda::Dtype::Float32 : models::cuda::Dtype::BFloat16;
}

// |a - b| <= tolerance * (1 + max |b|) over the whole tensor
inline bool close(const torch::Tensor& a, const torch::Tensor& b, double tolerance) {
  const auto diff = (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>();
  const auto scale = 1 + b.to(torch::kDouble).abs().max().item<double>();
  INFO("max difference " << diff << ", allowed " << tolerance * scale);
  return diff <= tolerance * scale;
}

}  // namespace fluxion::kernel_checks
