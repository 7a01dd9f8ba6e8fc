#include "models/layers.h"

#include "core/compat.h"
#include "models/fused_gated_residual.h"
#include "models/fused_swiglu.h"
#include "models/norm_modulate.h"

#include <ATen/autocast_mode.h>

namespace fluxion::models {

namespace nn = torch::nn;

namespace {
// True when autograd records ops on these tensors. Without it (sampling, evaluation) the fused
// inference paths may use kernels that have no derivative and write in a narrower dtype.
bool records_autograd(std::initializer_list<const torch::Tensor*> tensors) {
  if (!torch::GradMode::is_enabled()) return false;
  for (const auto* t : tensors) {
    if (t->requires_grad()) return true;
  }
  return false;
}
}  // namespace

torch::Tensor modulate(const torch::Tensor& x, const torch::Tensor& shift, const torch::Tensor& scale) {
  // (B, D) -> (B, 1, D), broadcast over the N tokens; addcmul is one kernel where
  // x * (1 + scale) + shift is two passes over (B, N, D)
  const auto shift_rows = shift.unsqueeze(1);
  const auto scale_rows = 1 + scale.unsqueeze(1);
  const auto autocast = compat::active_autocast_dtype(x.device().type());
  if (x.is_cuda() && autocast && x.scalar_type() == torch::kFloat && !records_autograd({&x, &shift, &scale})) {
    // Every consumer of a modulated tensor is a linear or convolution that autocast casts to its
    // dtype anyway: writing that dtype here saves the float32 output and the cast's extra pass.
    // (CUDA only: LibTorch 1.13's CPU kernels cannot cast on the fly.)
    auto out = torch::empty(x.sizes(), x.options().dtype(*autocast));
    return torch::addcmul_out(out, shift_rows, x, scale_rows);
  }
  return torch::addcmul(shift_rows, x, scale_rows);
}

torch::Tensor gated_residual(const torch::Tensor& x, const torch::Tensor& gate, const torch::Tensor& y) {
  if (auto fused = fused_gated_residual(x, gate, y)) return *fused;  // the backward as one kernel
  // (B, D) -> (B, 1, D) gate; x + gate * y in one kernel, the product kept in float32
  return torch::addcmul(x, gate.unsqueeze(1), y);
}

torch::Tensor plain_layer_norm(const torch::Tensor& x, double eps) {
  return torch::layer_norm(x, {x.size(-1)}, /*weight=*/{}, /*bias=*/{}, eps);
}

RMSNormImpl::RMSNormImpl(int64_t dim, double eps_) : eps(eps_) {
  weight = register_parameter("weight", torch::ones({dim}));
}

torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps) {
  auto h = x.to(torch::kFloat);
  // (..., D) -> (..., 1) mean square
  h = h * torch::rsqrt(h.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return (weight * h).to(x.scalar_type());
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) { return rms_norm(x, weight, eps); }

MlpImpl::MlpImpl(int64_t dim, int64_t hidden) {
  fc1 = register_module("fc1", nn::Linear(dim, hidden));
  fc2 = register_module("fc2", nn::Linear(hidden, dim));
}

torch::Tensor MlpImpl::forward(const torch::Tensor& x) {
#if FLUXION_TORCH2
  if (x.is_cuda() && !records_autograd({&x, &fc1->weight, &fc1->bias})) return linear(fc2, linear_gelu_cuda(*fc1, x));
#endif
  return linear(fc2, torch::gelu(linear(fc1, x), "tanh"));
}

#if FLUXION_TORCH2
torch::Tensor linear_gelu_cuda(const nn::LinearImpl& layer, const torch::Tensor& x) {
  // cuBLASLt's GELU epilogue is the tanh approximation (timm's approx_gelu); the op has no
  // derivative and is not on autocast's lists, so autocast's cast is done here
  const auto autocast = compat::active_autocast_dtype(c10::DeviceType::CUDA);
  const auto dtype = autocast.value_or(x.scalar_type());
  // autocast's weight cache only inside autocast: it is cleared when the outermost region ends
  auto cast = [&](const torch::Tensor& t) {
    return autocast ? at::autocast::cached_cast(dtype, t, c10::DeviceType::CUDA) : t.to(dtype);
  };
  const auto weight = cast(layer.weight), bias = cast(layer.bias);
  // (..., D) -> (rows, D) -> (rows, hidden) -> (..., hidden)
  auto rows = x.to(dtype).reshape({-1, x.size(-1)});
  auto out = at::_addmm_activation(bias, rows, weight.t(), /*beta=*/1, /*alpha=*/1, /*use_gelu=*/true);
  auto sizes = x.sizes().vec();
  sizes.back() = weight.size(0);
  return out.view(sizes);
}
#endif

SwiGLUImpl::SwiGLUImpl(int64_t dim, int64_t hidden, double dropout) {
  const int64_t h = inner_width(hidden);
  w12 = register_module("w12", nn::Linear(dim, 2 * h));
  w3 = register_module("w3", nn::Linear(h, dim));
  ffn_dropout = register_module("ffn_dropout", nn::Dropout(dropout));
}

torch::Tensor SwiGLUImpl::forward(const torch::Tensor& x) {
  // (B, N, D) -> (B, N, 2h) -> (B, N, h)
  const auto both = linear(w12, x);
  torch::Tensor hidden;
  if (auto fused = fused_swiglu(both)) {
    hidden = *fused;
  } else {
    auto halves = both.chunk(2, -1);  // two (B, N, h)
    hidden = torch::silu(halves[0]) * halves[1];
  }
  return linear(w3, ffn_dropout->forward(hidden));
}

torch::Tensor linear(const nn::LinearImpl& layer, const torch::Tensor& x) {
  return torch::linear(x, layer.weight, layer.bias);
}

nn::Sequential make_adaln_modulation(int64_t hidden_size, int64_t chunks) {
  return nn::Sequential(nn::SiLU(), nn::Linear(hidden_size, chunks * hidden_size));
}

torch::Tensor adaln_forward(nn::Sequential& adaln, const torch::Tensor& c) {
  return linear(*adaln[1]->as<nn::Linear>(), torch::silu(c));
}

FinalLayerImpl::FinalLayerImpl(int64_t hidden_size, int64_t patch_size, int64_t out_channels, bool rms_norm) {
  if (rms_norm) norm_final = register_module("norm_final", RMSNorm(hidden_size));
  linear = register_module("linear", nn::Linear(hidden_size, patch_size * patch_size * out_channels));
  adaLN_modulation = register_module("adaLN_modulation", make_adaln_modulation(hidden_size, 2));
}

torch::Tensor FinalLayerImpl::forward(const torch::Tensor& x, const torch::Tensor& c) {
  // (B, D) -> (B, 2D) -> shift, scale
  auto mods = adaln_forward(adaLN_modulation, c).chunk(2, 1);
  auto modulated = norm_final ? rms_norm_modulate(x, norm_final->weight, mods[0], mods[1], norm_final->eps)
                              : norm_modulate(x, mods[0], mods[1]);
  return models::linear(linear, modulated);
}

void FinalLayerImpl::zero_like_reference() {
  zero_adaln(adaLN_modulation);
  torch::NoGradGuard no_grad;
  linear->weight.zero_();
  linear->bias.zero_();
}

torch::Tensor unpatchify(const torch::Tensor& x, int64_t p, int64_t channels, int64_t grid_h, int64_t grid_w) {
  const int64_t B = x.size(0);
  // (B, h*w, p*p*c) -> (B, h, w, p, p, c) -> (B, c, h, p, w, p) -> (B, c, h*p, w*p)
  return x.reshape({B, grid_h, grid_w, p, p, channels})
      .permute({0, 5, 1, 3, 2, 4})
      .reshape({B, channels, grid_h * p, grid_w * p});
}

void init_linears_xavier(nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (auto& child : module.modules(/*include_self=*/false)) {
    if (auto* linear = child->as<nn::Linear>()) {
      nn::init::xavier_uniform_(linear->weight);
      if (linear->bias.defined()) linear->bias.zero_();
    }
  }
}

void zero_adaln(nn::Sequential& adaln) {
  torch::NoGradGuard no_grad;
  auto linear = adaln[1]->as<nn::Linear>();
  linear->weight.zero_();
  linear->bias.zero_();
}

}  // namespace fluxion::models
