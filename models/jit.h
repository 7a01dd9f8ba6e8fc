#pragma once
// JiT (LTH14/JiT model_jit.py @cbc743a): a pixel-space transformer predicting x. Bottleneck
// patch embedding, sin-cos absolute positions plus 2-D axial RoPE, RMSNorm, qk-norm, SwiGLU,
// adaLN-Zero, and in-context class tokens inserted at one block and stripped before the final
// layer. Parameter names match the official state dicts.
#include <torch/torch.h>

#include <string>

#include "models/attention.h"
#include "models/backbone.h"
#include "models/embedders.h"
#include "models/layers.h"
#include "models/pos_embed.h"

namespace fluxion::models {

struct JiTConfig {
  int64_t input_size = 256;
  int64_t patch_size = 16;
  int64_t in_channels = 3;
  int64_t hidden_size = 768;
  int64_t depth = 12;
  int64_t num_heads = 12;
  double mlp_ratio = 4.0;
  double attn_drop = 0.0;  // applied only in the middle half of the blocks
  double proj_drop = 0.0;
  int64_t num_classes = 1000;
  int64_t bottleneck_dim = 128;
  int64_t in_context_len = 32;
  int64_t in_context_start = 4;
  AttentionSpec attention;
};

class JiTBlockImpl : public torch::nn::Module {
 public:
  JiTBlockImpl(int64_t hidden_size, int64_t num_heads, double mlp_ratio, double proj_drop, AttentionOptions attention);
  // x (B, N, D), c (B, D) -> (B, N, D)
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& c, const RopeTables& rope);

  RMSNorm norm1{nullptr}, norm2{nullptr};
  Attention attn{nullptr};
  SwiGLU mlp{nullptr};
  torch::nn::Sequential adaLN_modulation{nullptr};
};
TORCH_MODULE(JiTBlock);

class JiT : public Backbone {
 public:
  explicit JiT(JiTConfig config);

  // Returns the x-prediction (B, C, H, W).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& y) override;

  std::string family() const override { return "JiT"; }
  std::string config_json() const override;
  int64_t num_classes() const override { return config_.num_classes; }
  bool has_null_class() const override { return true; }
  int64_t in_channels() const override { return config_.in_channels; }
  int64_t image_size() const override { return config_.input_size; }
  const JiTConfig& config() const { return config_; }

  void initialize_weights();  // the reference initialisation; called by the constructor

  TimestepEmbedder t_embedder{nullptr};
  LabelEmbedder y_embedder{nullptr};
  BottleneckPatchEmbed x_embedder{nullptr};
  torch::Tensor pos_embed;          // (1, N, D), frozen
  torch::Tensor in_context_posemb;  // (1, L, D)
  torch::nn::ModuleList blocks{nullptr};
  FinalLayer final_layer{nullptr};

 private:
  JiTConfig config_;
  RopeTables rope_, rope_in_context_;  // computed, not part of the state dict
};

int64_t jit_parameter_count(const JiTConfig& config);
std::string jit_config_json(const JiTConfig& config);

}  // namespace fluxion::models
