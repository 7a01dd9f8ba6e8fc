#pragma once
// What samplers (and objectives) know about a network: callables, never a model class.
//
//   ModelFn  the network itself: (x_t, t, y) -> its raw output. Training losses, guidance and
//            sample() take this one type; a model without classes ignores y.
//   Field    a time-dependent field (x, t) -> tensor shaped like x, with the labels (and any
//            guidance) already bound: what a solver integrates or a step evaluates (a velocity,
//            a data prediction, a Hyvarinen score). Solvers take a Field, not a model, because
//            guidance and prediction conversions sit between the two.
// t is a (B) tensor on x's device and dtype; time runs from t = 0 (noise) to t = 1 (data), except
// in the multiplicative samplers, whose GBM time runs from data (0) to noise (T).
#include <torch/torch.h>

#include <functional>

namespace fluxion::samplers {

// (x (B, ...), t (B), y (B) int64 labels) -> output shaped like x.
using ModelFn = std::function<torch::Tensor(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& y)>;

// (x (B, ...), t (B)) -> tensor shaped like x.
using Field = std::function<torch::Tensor(const torch::Tensor& x, const torch::Tensor& t)>;

// A (B) tensor filled with `t`, on x's device and in x's dtype.
inline torch::Tensor time_like(double t, const torch::Tensor& x) { return torch::full({x.size(0)}, t, x.options()); }

}  // namespace fluxion::samplers
