#include "models/sit.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "models/pos_embed.h"

namespace fluxion::models {

SiTBlockImpl::SiTBlockImpl(int64_t hidden_size, int64_t num_heads, double mlp_ratio,
                           AttentionOptions attention) {
  attn = register_module("attn", Attention(hidden_size, num_heads, std::move(attention)));
  mlp = register_module("mlp", Mlp(hidden_size, static_cast<int64_t>(hidden_size * mlp_ratio)));
  adaLN_modulation = register_module("adaLN_modulation", make_adaln_modulation(hidden_size, 6));
}

torch::Tensor SiTBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& c) {
  // (B, D) -> (B, 6D) -> shift/scale/gate for attention and MLP
  auto m = adaLN_modulation->forward(c).chunk(6, 1);
  auto h = x + m[2].unsqueeze(1) * attn->forward(modulate(plain_layer_norm(x), m[0], m[1]));
  return h + m[5].unsqueeze(1) * mlp->forward(modulate(plain_layer_norm(h), m[3], m[4]));
}

namespace {
void check_sit_config(const SiTConfig& c) {
  FLUXION_CHECK(c.patch_size > 0 && c.input_size > 0 && c.input_size % c.patch_size == 0,
                "SiT config: input_size ", c.input_size, " is not a multiple of patch_size ", c.patch_size);
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
  y_embedder = register_module("y_embedder", LabelEmbedder(c.num_classes, c.hidden_size, c.class_dropout_prob,
                                                           c.class_dropout_prob > 0));
  pos_embed = register_parameter("pos_embed", torch::zeros({1, grid * grid, c.hidden_size}),
                                 /*requires_grad=*/false);
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.depth; ++i) {
    blocks->push_back(SiTBlock(c.hidden_size, c.num_heads, c.mlp_ratio, sit_attention_options(c)));
  }
  final_layer = register_module("final_layer", FinalLayer(c.hidden_size, c.patch_size, out_channels_, false));
  initialize_weights();
}

void SiT::initialize_weights() {
  const auto& c = config_;
  init_linears_xavier(*this);
  for (auto& block : *blocks) block->as<SiTBlockImpl>()->attn->reset_variant_parameters();
  const int64_t grid = c.input_size / c.patch_size;
  torch::NoGradGuard no_grad;
  pos_embed.copy_(sincos_2d_pos_embed(c.hidden_size, grid, grid).unsqueeze(0));
  x_embedder->reset_parameters_like_reference();
  y_embedder->embedding_table->weight.normal_(0.0, 0.02);
  t_embedder->reset_parameters_like_reference();
  for (auto& block : *blocks) zero_adaln(block->as<SiTBlockImpl>()->adaLN_modulation);
  final_layer->zero_like_reference();
}

torch::Tensor SiT::forward_all_channels(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& y) {
  const auto& c = config_;
  FLUXION_CHECK(x.dim() == 4 && x.size(1) == c.in_channels && x.size(2) == c.input_size &&
                    x.size(3) == c.input_size,
                "SiT: input of shape ", x.sizes(), " does not fit the model (", c.in_channels, "x",
                c.input_size, "x", c.input_size, ")");
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
  nlohmann::json j = {{"model", "SiT"},
                      {"input_size", c.input_size},
                      {"patch_size", c.patch_size},
                      {"in_channels", c.in_channels},
                      {"hidden_size", c.hidden_size},
                      {"depth", c.depth},
                      {"num_heads", c.num_heads},
                      {"mlp_ratio", c.mlp_ratio},
                      {"class_dropout_prob", c.class_dropout_prob},
                      {"num_classes", c.num_classes},
                      {"learn_sigma", c.learn_sigma},
                      {"attention", attention_name(c.attention)}};
  return j.dump();
}

std::string SiT::config_json() const { return sit_config_json(config_); }

int64_t sit_parameter_count(const SiTConfig& c) {
  check_sit_config(c);
  const int64_t D = c.hidden_size, p = c.patch_size, grid = c.input_size / p;
  const int64_t out = c.learn_sigma ? 2 * c.in_channels : c.in_channels;
  const int64_t mlp_hidden = static_cast<int64_t>(D * c.mlp_ratio);
  int64_t n = D * c.in_channels * p * p + D;                          // x_embedder
  n += 256 * D + D + D * D + D;                                       // t_embedder
  n += (c.num_classes + (c.class_dropout_prob > 0 ? 1 : 0)) * D;      // y_embedder
  n += grid * grid * D;                                               // pos_embed
  const int64_t block = attention_parameter_count(D, c.num_heads, sit_attention_options(c)) +
                        D * mlp_hidden + mlp_hidden + mlp_hidden * D + D + 6 * D * D + 6 * D;
  n += c.depth * block;
  n += 2 * D * D + 2 * D + D * p * p * out + p * p * out;             // final_layer
  return n;
}

torch::Tensor unpatchify(const torch::Tensor& x, int64_t p, int64_t channels, int64_t grid_h, int64_t grid_w) {
  const int64_t B = x.size(0);
  // (B, h*w, p*p*c) -> (B, h, w, p, p, c) -> (B, c, h, p, w, p) -> (B, c, h*p, w*p)
  return x.reshape({B, grid_h, grid_w, p, p, channels})
      .permute({0, 5, 1, 3, 2, 4})
      .reshape({B, channels, grid_h * p, grid_w * p});
}

}  // namespace fluxion::models
