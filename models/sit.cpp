#include "models/sit.h"

#include "core/error.h"
#include "models/config_fields.h"
#include "models/norm_modulate.h"
#include "models/reference_init.h"

namespace fluxion::models {

SiTBlockImpl::SiTBlockImpl(int64_t hidden_size, int64_t num_heads, double mlp_ratio, AttentionOptions attention) {
  attn = register_module("attn", Attention(hidden_size, num_heads, std::move(attention)));
  mlp = register_module("mlp", Mlp(hidden_size, static_cast<int64_t>(hidden_size * mlp_ratio)));
  adaLN_modulation = register_module("adaLN_modulation", make_adaln_modulation(hidden_size, 6));
}

torch::Tensor SiTBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& c) {
  // (B, D) -> (B, 6D) -> shift/scale/gate for attention and MLP
  auto m = adaln_forward(adaLN_modulation, c).chunk(6, 1);
  auto h = gated_residual(x, m[2], attn->forward(norm_modulate(x, m[0], m[1])));
  return gated_residual(h, m[5], mlp->forward(norm_modulate(h, m[3], m[4])));
}

namespace {
void check_sit_config(const SiTConfig& c) {
  check_shared_config_ranges("SiT", c);
  check_probability("SiT", "class_dropout_prob", c.class_dropout_prob);
  FLUXION_CHECK(c.patch_size > 0 && c.input_size > 0 && c.input_size % c.patch_size == 0, "SiT config: input_size ",
                c.input_size, " is not a multiple of patch_size ", c.patch_size);
  FLUXION_CHECK(c.hidden_size % c.num_heads == 0, "SiT config: hidden_size ", c.hidden_size,
                " is not divisible by num_heads ", c.num_heads);
  FLUXION_CHECK(c.hidden_size % 4 == 0, "SiT config: hidden_size ", c.hidden_size, " is not a multiple of 4");
  FLUXION_CHECK(c.depth > 0 && c.in_channels > 0 && c.num_classes > 0,
                "SiT config: depth, in_channels and num_classes must be positive");
}

AttentionOptions sit_attention_options(const SiTConfig& c) {
  AttentionOptions options;
  options.spec = c.attention;
  options.grid_h = options.grid_w = c.input_size / c.patch_size;
  options.num_tokens = options.grid_h * options.grid_w;
  return options;
}
}  // namespace

SiT::SiT(SiTConfig config) : config_(std::move(config)) {
  check_sit_config(config_);
  const auto& c = config_;
  out_channels_ = c.learn_sigma ? 2 * c.in_channels : c.in_channels;
  const int64_t grid = c.input_size / c.patch_size;
  x_embedder = register_module("x_embedder", PatchEmbed(c.in_channels, c.hidden_size, c.patch_size));
  t_embedder = register_module("t_embedder", TimestepEmbedder(c.hidden_size));
  y_embedder = register_module(
      "y_embedder", LabelEmbedder(c.num_classes, c.hidden_size, c.class_dropout_prob, c.class_dropout_prob > 0));
  pos_embed = register_parameter("pos_embed", torch::zeros({1, grid * grid, c.hidden_size}),
                                 /*requires_grad=*/false);
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.depth; ++i) {
    blocks->push_back(SiTBlock(c.hidden_size, c.num_heads, c.mlp_ratio, sit_attention_options(c)));
  }
  final_layer = register_module("final_layer", FinalLayer(c.hidden_size, c.patch_size, out_channels_, false));
  initialize_weights();
}

void SiT::initialize_weights() { initialize_like_reference<SiTBlockImpl>(*this); }

torch::Tensor SiT::forward_all_channels(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& y) {
  const auto& c = config_;
  check_input_fits(x);
  // (B, C, H, W) -> (B, N, D)
  auto h = x_embedder->forward(x) + pos_embed;
  auto cond = t_embedder->forward(t) + y_embedder->forward(y);
  for (auto& block : *blocks) h = block->as<SiTBlockImpl>()->forward(h, cond);
  // (B, N, D) -> (B, N, p*p*C_out)
  h = final_layer->forward(h, cond);
  const int64_t grid = c.input_size / c.patch_size;
  return unpatchify(h, c.patch_size, out_channels_, grid, grid);
}

torch::Tensor SiT::forward(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& y) {
  auto out = forward_all_channels(x, t, y);
  return config_.learn_sigma ? out.narrow(1, 0, config_.in_channels) : out;
}

torch::Tensor SiT::forward_with_cfg(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& y,
                                    double cfg_scale, int64_t guided_channels) {
  const int64_t half = x.size(0) / 2;
  auto first = x.narrow(0, 0, half);
  auto out = forward(torch::cat({first, first}, 0), t, y);
  guided_channels = std::min<int64_t>(guided_channels, out.size(1));
  auto eps = out.narrow(1, 0, guided_channels);
  auto rest = out.narrow(1, guided_channels, out.size(1) - guided_channels);
  auto cond = eps.narrow(0, 0, half), uncond = eps.narrow(0, half, eps.size(0) - half);
  auto guided = uncond + cfg_scale * (cond - uncond);
  return torch::cat({torch::cat({guided, guided}, 0), rest}, 1);
}

std::string sit_config_json(const SiTConfig& c) {
  auto j = shared_config_json("SiT", c);
  j["class_dropout_prob"] = c.class_dropout_prob;
  j["learn_sigma"] = c.learn_sigma;
  return j.dump();
}

std::string SiT::config_json() const { return sit_config_json(config_); }

int64_t sit_parameter_count(const SiTConfig& c) {
  check_sit_config(c);
  const int64_t D = c.hidden_size, p = c.patch_size, grid = c.input_size / p;
  const int64_t out = c.learn_sigma ? 2 * c.in_channels : c.in_channels;
  const int64_t mlp_hidden = static_cast<int64_t>(D * c.mlp_ratio);
  int64_t n = D * c.in_channels * p * p + D;                      // x_embedder
  n += 256 * D + D + D * D + D;                                   // t_embedder
  n += (c.num_classes + (c.class_dropout_prob > 0 ? 1 : 0)) * D;  // y_embedder
  n += grid * grid * D;                                           // pos_embed
  const int64_t block = attention_parameter_count(D, c.num_heads, sit_attention_options(c)) + D * mlp_hidden +
                        mlp_hidden + mlp_hidden * D + D + 6 * D * D + 6 * D;
  n += c.depth * block;
  n += 2 * D * D + 2 * D + D * p * p * out + p * p * out;  // final_layer
  return n;
}

}  // namespace fluxion::models
