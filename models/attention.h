#pragma once
// Multi-head self-attention with three selectable cores, usable in SiT and JiT blocks:
//
//  softmax  softmax(q k^T / sqrt(d)) v; through SDPA (compat) or, for JiT, with the scores in
//           float32 and autocast off as upstream.
//  gated    softmax plus the G1 gate: o_h <- o_h * sigmoid(x W_g + b_g), computed from the block's
//           normed (modulated) input x, per channel ("elementwise") or per head ("headwise"),
//           before the output projection. Extra parameter: `gate_proj`.
//  linear   LINA-style linear attention (models/linear_attention.h) with its KV gate and a 5x5
//           depthwise convolution over the token grid added before the projection. Extra
//           parameters: `kv_gate_key`, `kv_gate_value` (1, H, N, 1) and `dwconv`.
//           The key gate is stored as a raw value r and used as softplus(r) (r initialised to
//           log(e - 1) so the gate starts at 1): a positive key gate keeps the denominator
//           phi(q)^T mean(gk phi(k)) above zero whatever the optimiser does. The value gate only
//           scales what each token writes, so it is used as stored (init 1), as in LINA.
//
// Parameter names shared with the references: `qkv`, `proj`, and for qk-norm `q_norm`, `k_norm`.
#include <torch/torch.h>

#include <string>

#include "models/layers.h"
#include "models/pos_embed.h"

namespace fluxion::models {

enum class AttentionKind { Softmax, Gated, Linear };
enum class GateMode { Elementwise, Headwise };

struct AttentionSpec {
  AttentionKind kind = AttentionKind::Softmax;
  GateMode gate = GateMode::Elementwise;  // gated only
};

// "softmax", "gated" (elementwise), "gated-headwise", "linear"; throws on anything else.
AttentionSpec parse_attention(const std::string& name);
std::string attention_name(const AttentionSpec& spec);

struct AttentionOptions {
  AttentionSpec spec;
  bool qk_norm = false;      // per-head RMSNorm on q and k (JiT)
  bool fp32_scores = false;  // explicit float32 scores with autocast off (JiT) instead of SDPA
  double attn_drop = 0.0;    // dropout on the attention weights (fp32_scores path only)
  double proj_drop = 0.0;
  // Linear attention: the token count N the KV gate is sized for, and the grid of the last
  // grid_h * grid_w tokens that the depthwise convolution sees (earlier tokens get zeros).
  int64_t num_tokens = 0;
  int64_t grid_h = 0;
  int64_t grid_w = 0;
};

class AttentionImpl : public torch::nn::Module {
 public:
  AttentionImpl(int64_t dim, int64_t num_heads, AttentionOptions options);
  // x (B, N, D) -> (B, N, D). rope: tables for the N tokens or nullptr.
  torch::Tensor forward(const torch::Tensor& x, const RopeTables* rope = nullptr);
  // Reference-style init of the variant-specific parameters (after the block's xavier init).
  void reset_variant_parameters();

  int64_t num_heads, head_dim;
  AttentionOptions options;
  torch::nn::Linear qkv{nullptr}, proj{nullptr}, gate_proj{nullptr};
  RMSNorm q_norm{nullptr}, k_norm{nullptr};
  torch::nn::Dropout proj_dropout{nullptr};
  torch::Tensor kv_gate_key, kv_gate_value;
  torch::nn::Conv2d dwconv{nullptr};

 private:
  torch::Tensor softmax_core(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v);
};
TORCH_MODULE(Attention);

// Number of parameters an AttentionImpl(dim, heads, options) has (mirrors its constructor).
int64_t attention_parameter_count(int64_t dim, int64_t num_heads, const AttentionOptions& options);

}  // namespace fluxion::models
