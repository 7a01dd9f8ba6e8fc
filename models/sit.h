#pragma once
// SiT (willisma/SiT models.py): a DiT with adaLN-Zero blocks on patch tokens, conditioned on
// c = t_emb + y_emb. Parameter names match the official state dicts.
#include <torch/torch.h>

#include <string>

#include "models/attention.h"
#include "models/backbone.h"
#include "models/embedders.h"
#include "models/layers.h"

namespace fluxion::models {

struct SiTConfig {
  int64_t input_size = 32;  // square input, height = width
  int64_t patch_size = 2;
  int64_t in_channels = 4;
  int64_t hidden_size = 1152;
  int64_t depth = 28;
  int64_t num_heads = 16;
  double mlp_ratio = 4.0;
  double class_dropout_prob = 0.1;  // > 0 also adds the null-class row
  int64_t num_classes = 1000;
  bool learn_sigma = true;  // 2C output channels, forward() returns the first C
  AttentionSpec attention;
};

class SiTBlockImpl : public torch::nn::Module {
 public:
  SiTBlockImpl(int64_t hidden_size, int64_t num_heads, double mlp_ratio, AttentionOptions attention);
  // x (B, N, D), c (B, D) -> (B, N, D)
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& c);

  Attention attn{nullptr};
  Mlp mlp{nullptr};
  torch::nn::Sequential adaLN_modulation{nullptr};
};
TORCH_MODULE(SiTBlock);

class SiT : public Backbone {
 public:
  explicit SiT(SiTConfig config);

  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& y) override;
  // All 2C channels when learn_sigma (forward() drops the second half).
  torch::Tensor forward_all_channels(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& y);
  // SiT's own CFG: the first half of x is duplicated, y = [labels, null...]; the first
  // `guided_channels` output channels get uncond + s (cond - uncond), the rest pass through.
  torch::Tensor forward_with_cfg(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& y,
                                 double cfg_scale, int64_t guided_channels = 3);

  std::string family() const override { return "SiT"; }
  std::string config_json() const override;
  int64_t num_classes() const override { return config_.num_classes; }
  bool has_null_class() const override { return config_.class_dropout_prob > 0; }
  int64_t in_channels() const override { return config_.in_channels; }
  int64_t image_size() const override { return config_.input_size; }
  const SiTConfig& config() const { return config_; }

  // The reference initialisation (xavier linears, sin-cos pos_embed, N(0, 0.02) embeddings,
  // zeroed adaLN and output layers). Called by the constructor.
  void initialize_weights();

  PatchEmbed x_embedder{nullptr};
  TimestepEmbedder t_embedder{nullptr};
  LabelEmbedder y_embedder{nullptr};
  torch::Tensor pos_embed;  // (1, N, D), frozen
  torch::nn::ModuleList blocks{nullptr};
  FinalLayer final_layer{nullptr};

 private:
  SiTConfig config_;
  int64_t out_channels_;
};

// Mirrors SiT's constructor without allocating: the number of parameters (pos_embed included).
int64_t sit_parameter_count(const SiTConfig& config);

std::string sit_config_json(const SiTConfig& config);

}  // namespace fluxion::models
