#include "models/linear_attention.h"

#include "core/compat.h"
#include "models/fused_linear_attention.h"

namespace fluxion::models {

namespace {
struct Features {
  torch::Tensor q, k, v;
};

// phi(q), gated phi(k) and gated v in the compute dtype (at least float32).
Features gated_features(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        const torch::Tensor& key_gate, const torch::Tensor& value_gate, const LinearAttentionEps& eps) {
  const auto dtype = at::promote_types(q.scalar_type(), torch::kFloat);
  Features f;
  f.q = torch::relu(q.to(dtype)) + eps.feature;
  f.k = torch::relu(k.to(dtype)) + eps.feature;
  f.v = v.to(dtype);
  // (1, H, N, 1) gates broadcast over batch and channels
  if (key_gate.defined()) f.k = f.k * key_gate.to(dtype);
  if (value_gate.defined()) f.v = f.v * value_gate.to(dtype);
  return f;
}
}  // namespace

torch::Tensor linear_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                               const torch::Tensor& key_gate, const torch::Tensor& value_gate, LinearAttentionEps eps) {
  if (auto fused = fused_linear_attention(q, k, v, key_gate, value_gate, eps)) return *fused;
  compat::AutocastOffGuard autocast_off;
  auto f = gated_features(q, k, v, key_gate, value_gate, eps);
  const double inv_n = 1.0 / static_cast<double>(q.size(2));
  const int64_t d = f.v.size(-1);
  // v with a column of ones, so that each product below also carries the normaliser:
  // (B, H, N, d) -> (B, H, N, d + 1)
  auto v_ones = torch::cat({f.v, torch::ones_like(f.v.narrow(-1, 0, 1))}, -1);
  // (B, H, d, N) x (B, H, N, d + 1) -> (B, H, d, d + 1): mean outer products k v^T | mean key feature
  auto state = torch::matmul(f.k.transpose(-2, -1), v_ones) * inv_n;
  // (B, H, N, d) x (B, H, d, d + 1) -> (B, H, N, d + 1): numerator | phi(q) . mean key feature
  auto out = torch::matmul(f.q, state);
  return out.narrow(-1, 0, d) / (out.narrow(-1, d, 1) + eps.denominator);
}

torch::Tensor linear_attention_naive(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                     const torch::Tensor& key_gate, const torch::Tensor& value_gate,
                                     LinearAttentionEps eps) {
  auto f = gated_features(q, k, v, key_gate, value_gate, eps);
  // (B, H, N, d) x (B, H, d, N) -> (B, H, N, N) unnormalised weights, mean-scaled
  auto weights = torch::matmul(f.q, f.k.transpose(-2, -1)) / static_cast<double>(q.size(2));
  auto denominator = weights.sum(-1, /*keepdim=*/true) + eps.denominator;
  return torch::matmul(weights, f.v) / denominator;
}

}  // namespace fluxion::models
