#include "models/attention.h"

#include <cmath>

#include "core/compat.h"
#include "core/error.h"
#include "models/fused_depthwise_conv.h"
#include "models/layers.h"
#include "models/linear_attention.h"

namespace fluxion::models {

namespace nn = torch::nn;

AttentionSpec parse_attention(const std::string& name) {
  if (name == "softmax") return {AttentionKind::Softmax, GateMode::Elementwise};
  if (name == "gated" || name == "gated-elementwise") return {AttentionKind::Gated, GateMode::Elementwise};
  if (name == "gated-headwise") return {AttentionKind::Gated, GateMode::Headwise};
  if (name == "linear") return {AttentionKind::Linear, GateMode::Elementwise};
  fail("attention '", name, "' is not one of softmax, gated, gated-headwise, linear");
}

std::string attention_name(const AttentionSpec& spec) {
  switch (spec.kind) {
    case AttentionKind::Softmax: return "softmax";
    case AttentionKind::Gated: return spec.gate == GateMode::Headwise ? "gated-headwise" : "gated";
    case AttentionKind::Linear: return "linear";
  }
  return "softmax";
}

namespace {
const double kSoftplusOfOneInverse = std::log(std::exp(1.0) - 1.0);  // softplus(r) = 1
}

AttentionImpl::AttentionImpl(int64_t dim, int64_t num_heads_, AttentionOptions options_)
    : num_heads(num_heads_), head_dim(dim / num_heads_), options(std::move(options_)) {
  FLUXION_CHECK(dim % num_heads == 0, "attention: hidden size ", dim, " is not divisible by the number of heads ",
                num_heads);
  qkv = register_module("qkv", nn::Linear(dim, 3 * dim));
  if (options.qk_norm) {
    q_norm = register_module("q_norm", RMSNorm(head_dim));
    k_norm = register_module("k_norm", RMSNorm(head_dim));
  }
  proj = register_module("proj", nn::Linear(dim, dim));
  proj_dropout = register_module("proj_drop", nn::Dropout(options.proj_drop));
  if (options.spec.kind == AttentionKind::Gated) {
    const int64_t width = options.spec.gate == GateMode::Headwise ? num_heads : dim;
    gate_proj = register_module("gate_proj", nn::Linear(dim, width));
  }
  if (options.spec.kind == AttentionKind::Linear) {
    FLUXION_CHECK(options.num_tokens > 0 && options.grid_h > 0 && options.grid_w > 0 &&
                      options.grid_h * options.grid_w <= options.num_tokens,
                  "linear attention: bad token layout (N ", options.num_tokens, ", grid ", options.grid_h, "x",
                  options.grid_w, ")");
    kv_gate_key = register_parameter("kv_gate_key", torch::zeros({1, num_heads, options.num_tokens, 1}));
    kv_gate_value = register_parameter("kv_gate_value", torch::zeros({1, num_heads, options.num_tokens, 1}));
    dwconv = register_module("dwconv", nn::Conv2d(nn::Conv2dOptions(dim, dim, 5).padding(2).groups(dim)));
  }
  reset_variant_parameters();
}

void AttentionImpl::reset_variant_parameters() {
  torch::NoGradGuard no_grad;
  if (kv_gate_key.defined()) kv_gate_key.fill_(kSoftplusOfOneInverse);
  if (kv_gate_value.defined()) kv_gate_value.fill_(1.0);
  if (gate_proj) {
    nn::init::xavier_uniform_(gate_proj->weight);
    gate_proj->bias.zero_();
  }
}

torch::Tensor AttentionImpl::softmax_core(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v) {
  const double scale = 1.0 / std::sqrt(static_cast<double>(head_dim));
  const bool drop = is_training() && options.attn_drop > 0;
  if (!options.fp32_scores && !drop) return compat::scaled_dot_product_attention(q, k, v, scale);
  torch::Tensor weights;
  {
    compat::AutocastOffGuard autocast_off;
    // (B, H, N, d) x (B, H, d, N) -> (B, H, N, N), float32
    auto scores = torch::matmul(q.to(torch::kFloat), k.to(torch::kFloat).transpose(-2, -1)) * scale;
    weights = torch::softmax(scores, -1);
  }
  if (drop) weights = torch::dropout(weights, options.attn_drop, /*train=*/true);
  // Upstream multiplies the float32 weights with v outside the fp32 island (the caller's
  // autocast decides the dtype); without autocast the product takes v's dtype.
  return torch::matmul(weights.to(v.scalar_type()), v);
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const RopeTables* rope) {
  const int64_t B = x.size(0), N = x.size(1), C = x.size(2);
  // (B, N, 3C) -> 3 x (B, H, N, d). unbind, not parts[i]: the gradient of each select is a zero
  // tensor of the whole projection's size with one third copied in, three of them then added;
  // unbind's gradient is one stack.
  auto parts = linear(qkv, x).reshape({B, N, 3, num_heads, head_dim}).permute({2, 0, 3, 1, 4}).unbind(0);
  auto q = parts[0], k = parts[1], v = parts[2];
  if (options.qk_norm) {
    q = q_norm->forward(q);
    k = k_norm->forward(k);
  }
  if (rope != nullptr && rope->defined()) {
    q = apply_rope(q, *rope);
    k = apply_rope(k, *rope);
  }
  torch::Tensor out;  // (B, H, N, d)
  if (options.spec.kind == AttentionKind::Linear) {
    FLUXION_CHECK(N == options.num_tokens, "linear attention: built for ", options.num_tokens,
                  " tokens (KV gate length) but got ", N);
    out = linear_attention(q, k, v, torch::softplus(kv_gate_key), kv_gate_value).to(v.scalar_type());
  } else {
    out = softmax_core(q, k, v);
  }
  if (options.spec.kind == AttentionKind::Gated) {
    auto gate = torch::sigmoid(linear(gate_proj, x));
    // elementwise (B, N, C) -> (B, H, N, d); headwise (B, N, H) -> (B, H, N, 1)
    gate = options.spec.gate == GateMode::Headwise ? gate.transpose(1, 2).unsqueeze(-1)
                                                   : gate.reshape({B, N, num_heads, head_dim}).transpose(1, 2);
    out = out * gate;
  }
  // (B, H, N, d) -> (B, N, C)
  out = out.transpose(1, 2).reshape({B, N, C});
  if (options.spec.kind == AttentionKind::Linear)
    out = depthwise_conv_add(out, x, dwconv->weight, dwconv->bias, options.grid_h, options.grid_w);
  return proj_dropout->forward(linear(proj, out));
}

int64_t attention_parameter_count(int64_t dim, int64_t num_heads, const AttentionOptions& options) {
  int64_t n = 3 * dim * dim + 3 * dim + dim * dim + dim;
  if (options.qk_norm) n += 2 * (dim / num_heads);
  if (options.spec.kind == AttentionKind::Gated) {
    const int64_t width = options.spec.gate == GateMode::Headwise ? num_heads : dim;
    n += dim * width + width;
  }
  if (options.spec.kind == AttentionKind::Linear) n += 2 * num_heads * options.num_tokens + dim * 25 + dim;
  return n;
}

}  // namespace fluxion::models
