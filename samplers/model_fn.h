#pragma once
// The only thing a sampler knows about a network: a callable from (x_t, t) to a prediction.
// t is a (B) tensor on x's device and dtype; time runs from t = 0 (noise) to t = 1 (data).
#include <torch/torch.h>

#include <functional>

namespace fluxion::samplers {

// (x (B, ...), t (B)) -> prediction shaped like x.
using ModelFn = std::function<torch::Tensor(const torch::Tensor& x, const torch::Tensor& t)>;

// (x (B, ...), t (B), y (B) int64 labels) -> prediction shaped like x. Guidance wraps this into a
// ModelFn.
using ConditionalModelFn = std::function<torch::Tensor(
    const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& y)>;

// A (B) tensor filled with `t`, on x's device and in x's dtype.
inline torch::Tensor time_like(double t, const torch::Tensor& x) {
  return torch::full({x.size(0)}, t, x.options());
}

}  // namespace fluxion::samplers
