#include "models/jit.h"

#include "core/error.h"
#include "models/config_fields.h"
#include "models/norm_modulate.h"
#include "models/reference_init.h"

namespace fluxion::models {

JiTBlockImpl::JiTBlockImpl(int64_t hidden_size, int64_t num_heads, double mlp_ratio, double proj_drop,
                           AttentionOptions attention) {
  norm1 = register_module("norm1", RMSNorm(hidden_size));
  attn = register_module("attn", Attention(hidden_size, num_heads, std::move(attention)));
  norm2 = register_module("norm2", RMSNorm(hidden_size));
  mlp = register_module("mlp", SwiGLU(hidden_size, static_cast<int64_t>(hidden_size * mlp_ratio), proj_drop));
  adaLN_modulation = register_module("adaLN_modulation", make_adaln_modulation(hidden_size, 6));
}

torch::Tensor JiTBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& c, const RopeTables& rope) {
  // (B, D) -> (B, 6D) -> shift/scale/gate for attention and MLP
  auto m = adaln_forward(adaLN_modulation, c).chunk(6, -1);
  auto h = gated_residual(x, m[2], attn->forward(rms_norm_modulate(x, norm1->weight, m[0], m[1], norm1->eps), &rope));
  return gated_residual(h, m[5], mlp->forward(rms_norm_modulate(h, norm2->weight, m[3], m[4], norm2->eps)));
}

namespace {
void check_jit_config(const JiTConfig& c) {
  check_shared_config_ranges("JiT", c);
  check_probability("JiT", "attn_drop", c.attn_drop);
  check_probability("JiT", "proj_drop", c.proj_drop);
  FLUXION_CHECK(c.bottleneck_dim > 0 && c.bottleneck_dim <= 65536 && c.in_context_len >= 0 && c.in_context_len <= 65536,
                "JiT config: bottleneck_dim ", c.bottleneck_dim, " and in_context_len ", c.in_context_len,
                " must be in (0, 65536] and [0, 65536]");
  FLUXION_CHECK(c.patch_size > 0 && c.input_size > 0 && c.input_size % c.patch_size == 0, "JiT config: input_size ",
                c.input_size, " is not a multiple of patch_size ", c.patch_size);
  FLUXION_CHECK(c.hidden_size % c.num_heads == 0 && (c.hidden_size / c.num_heads) % 4 == 0, "JiT config: hidden_size ",
                c.hidden_size, " / num_heads ", c.num_heads, " must give a head dimension divisible by 4 (axial RoPE)");
  FLUXION_CHECK(c.in_context_len == 0 || (c.in_context_start >= 0 && c.in_context_start < c.depth),
                "JiT config: in_context_start ", c.in_context_start, " is outside the ", c.depth, " blocks");
  FLUXION_CHECK(c.depth > 0 && c.in_channels > 0 && c.num_classes > 0 && c.bottleneck_dim > 0,
                "JiT config: depth, in_channels, num_classes and bottleneck_dim must be positive");
}

bool in_middle_half(int64_t i, int64_t depth) { return depth / 4 * 3 > i && i >= depth / 4; }

AttentionOptions jit_attention_options(const JiTConfig& c, int64_t i) {
  AttentionOptions options;
  options.spec = c.attention;
  options.qk_norm = true;
  options.fp32_scores = true;
  options.attn_drop = in_middle_half(i, c.depth) ? c.attn_drop : 0.0;
  options.proj_drop = in_middle_half(i, c.depth) ? c.proj_drop : 0.0;
  options.grid_h = options.grid_w = c.input_size / c.patch_size;
  const bool with_prefix = c.in_context_len > 0 && i >= c.in_context_start;
  options.num_tokens = options.grid_h * options.grid_w + (with_prefix ? c.in_context_len : 0);
  return options;
}
}  // namespace

JiT::JiT(JiTConfig config) : config_(std::move(config)) {
  check_jit_config(config_);
  const auto& c = config_;
  const int64_t grid = c.input_size / c.patch_size;
  t_embedder = register_module("t_embedder", TimestepEmbedder(c.hidden_size));
  y_embedder = register_module("y_embedder", LabelEmbedder(c.num_classes, c.hidden_size, 0.0, true));
  x_embedder =
      register_module("x_embedder", BottleneckPatchEmbed(c.in_channels, c.bottleneck_dim, c.hidden_size, c.patch_size));
  pos_embed = register_parameter("pos_embed", torch::zeros({1, grid * grid, c.hidden_size}),
                                 /*requires_grad=*/false);
  if (c.in_context_len > 0) {
    in_context_posemb = register_parameter("in_context_posemb", torch::zeros({1, c.in_context_len, c.hidden_size}));
  }
  const int64_t head_dim = c.hidden_size / c.num_heads;
  rope_ = axial_rope_tables(head_dim, grid, 0);
  rope_in_context_ = axial_rope_tables(head_dim, grid, c.in_context_len);
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.depth; ++i) {
    const double proj_drop = in_middle_half(i, c.depth) ? c.proj_drop : 0.0;
    blocks->push_back(JiTBlock(c.hidden_size, c.num_heads, c.mlp_ratio, proj_drop, jit_attention_options(c, i)));
  }
  final_layer = register_module("final_layer", FinalLayer(c.hidden_size, c.patch_size, c.in_channels, true));
  initialize_weights();
}

void JiT::initialize_weights() { initialize_like_reference<JiTBlockImpl>(*this, in_context_posemb); }

torch::Tensor JiT::forward(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& y) {
  const auto& c = config_;
  check_input_fits(x);
  // Keep the RoPE tables on the input's device so blocks do not copy them on every call.
  if (rope_.cos.device() != x.device()) {
    for (auto* tables : {&rope_, &rope_in_context_}) {
      tables->cos = tables->cos.to(x.device());
      tables->sin = tables->sin.to(x.device());
    }
  }
  auto y_emb = y_embedder->forward(y);
  auto cond = t_embedder->forward(t) + y_emb;
  // (B, C, H, W) -> (B, N, D)
  auto h = x_embedder->forward(x) + pos_embed;
  for (int64_t i = 0; i < c.depth; ++i) {
    if (c.in_context_len > 0 && i == c.in_context_start) {
      // (B, D) -> (B, L, D) class tokens, prepended: (B, L + N, D)
      auto tokens = y_emb.unsqueeze(1).expand({-1, c.in_context_len, -1}) + in_context_posemb;
      h = torch::cat({tokens.to(h.scalar_type()), h}, 1);
    }
    const bool with_prefix = c.in_context_len > 0 && i >= c.in_context_start;
    h = blocks->at<JiTBlockImpl>(i).forward(h, cond, with_prefix ? rope_in_context_ : rope_);
  }
  // (B, L + N, D) -> (B, N, D)
  h = h.narrow(1, h.size(1) - (c.input_size / c.patch_size) * (c.input_size / c.patch_size),
               (c.input_size / c.patch_size) * (c.input_size / c.patch_size));
  h = final_layer->forward(h, cond);
  const int64_t grid = c.input_size / c.patch_size;
  return unpatchify(h, c.patch_size, c.in_channels, grid, grid);
}

std::string jit_config_json(const JiTConfig& c) {
  auto j = shared_config_json("JiT", c);
  j["attn_drop"] = c.attn_drop;
  j["proj_drop"] = c.proj_drop;
  j["bottleneck_dim"] = c.bottleneck_dim;
  j["in_context_len"] = c.in_context_len;
  j["in_context_start"] = c.in_context_start;
  return j.dump();
}

std::string JiT::config_json() const { return jit_config_json(config_); }

int64_t jit_parameter_count(const JiTConfig& c) {
  check_jit_config(c);
  const int64_t D = c.hidden_size, p = c.patch_size, grid = c.input_size / p;
  const int64_t swiglu = SwiGLUImpl::inner_width(static_cast<int64_t>(D * c.mlp_ratio));
  int64_t n = 256 * D + D + D * D + D;                                       // t_embedder
  n += (c.num_classes + 1) * D;                                              // y_embedder
  n += c.in_channels * p * p * c.bottleneck_dim + c.bottleneck_dim * D + D;  // x_embedder
  n += grid * grid * D + c.in_context_len * D;                               // pos_embed, in-context
  for (int64_t i = 0; i < c.depth; ++i) {
    n += 2 * D + attention_parameter_count(D, c.num_heads, jit_attention_options(c, i)) + D * 2 * swiglu + 2 * swiglu +
         swiglu * D + D + 6 * D * D + 6 * D;
  }
  n += D + 2 * D * D + 2 * D + D * p * p * c.in_channels + p * p * c.in_channels;  // final_layer
  return n;
}

}  // namespace fluxion::models
