#pragma once
// Shared by the kernel emulation tests: tensor dtypes as the kernels name them (the glue's own
// models/kernel_tensors.h), and a tolerance check scaled by the reference's magnitude.
// torch before Catch: LibTorch's glog defines CHECK too, and the later definition wins
#include <torch/torch.h>
// clang-format off
#include <catch2/catch.hpp>
// clang-format on

#include "models/kernel_tensors.h"

namespace fluxion::kernel_checks {

using models::kernel_tensors::kernel_type;

// |a - b| <= tolerance * (1 + max |b|) over the whole tensor
inline bool close(const torch::Tensor& a, const torch::Tensor& b, double tolerance) {
  const auto diff = (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>();
  const auto scale = 1 + b.to(torch::kDouble).abs().max().item<double>();
  INFO("max difference " << diff << ", allowed " << tolerance * scale);
  return diff <= tolerance * scale;
}

}  // namespace fluxion::kernel_checks
