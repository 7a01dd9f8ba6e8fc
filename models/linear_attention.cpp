#include "models/linear_attention.h"

#include "core/compat.h"

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
  compat::AutocastOffGuard autocast_off;
  auto f = gated_features(q, k, v, key_gate, value_gate, eps);
  const double inv_n = 1.0 / static_cast<double>(q.size(2));
  // (B, H, d, N) x (B, H, N, d) -> (B, H, d, d): mean of outer products
  auto state = torch::matmul(f.k.transpose(-2, -1), f.v) * inv_n;
  // (B, H, N, d) -> (B, H, 1, d): mean key feature
  auto mean_key = f.k.mean(2, /*keepdim=*/true);
  // (B, H, N, d) x (B, H, d, d) -> (B, H, N, d)
  auto numerator = torch::matmul(f.q, state);
  // (B, H, N, d) . (B, H, 1, d) -> (B, H, N, 1)
  auto denominator = (f.q * mean_key).sum(-1, /*keepdim=*/true) + eps.denominator;
  return numerator / denominator;
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
