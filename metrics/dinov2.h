#pragma once
// DINOv2 ViT-S/B/L/g with patch 14, with or without register tokens, as a feature extractor for
// FD_DINOv2 (dgm-eval). Submodule names are Hugging Face transformers' (Dinov2Model /
// Dinov2WithRegistersModel): embeddings.position_embeddings, encoder.layer.N.attention.attention.
// query, ...; official facebookresearch/dinov2 checkpoints (pos_embed, blocks.N.attn.qkv, ...)
// are renamed on load. The feature is the CLS token after the final LayerNorm.
#include <torch/torch.h>

#include <string>

#include "core/safetensors.h"

namespace fluxion::metrics {

// How the pretrained 37x37 position table is resized to the input's patch grid.
enum class PositionInterpolation {
  size,        // bicubic to the target size (transformers' Dinov2Model)
  offset_0_1,  // bicubic with scale factor (n + 0.1) / M (facebookresearch/dinov2 hub models)
};

struct Dinov2Config {
  int64_t hidden_size = 768;
  int64_t num_layers = 12;
  int64_t num_heads = 12;
  int64_t patch_size = 14;
  int64_t image_size = 518;  // of the pretrained position table
  double mlp_ratio = 4.0;
  bool swiglu = false;  // ViT-g
  int64_t num_registers = 0;
  double layer_norm_eps = 1e-6;
  PositionInterpolation interpolation = PositionInterpolation::size;
};

// "vits14", "vitb14", "vitl14", "vitg14", each optionally with "_reg" (4 registers).
Dinov2Config dinov2_config(const std::string& name);

struct Dinov2Output {
  torch::Tensor last_hidden_state;  // (B, 1 + R + N, C) after the final LayerNorm
  torch::Tensor cls;                // (B, C): the feature
};

class Dinov2Impl : public torch::nn::Module {
 public:
  explicit Dinov2Impl(const Dinov2Config& config);
  // pixel_values: normalized float (B, 3, H, W), H and W multiples of the patch size
  Dinov2Output forward(const torch::Tensor& pixel_values);
  // uint8 (B, C, H, W) images -> CLS features through dgm-eval's preprocessing
  torch::Tensor extract(const torch::Tensor& images_u8);
  const Dinov2Config& config() const { return config_; }

 private:
  torch::Tensor interpolated_positions(int64_t grid_h, int64_t grid_w) const;
  Dinov2Config config_;
  std::shared_ptr<torch::nn::Module> embeddings_, encoder_;
  torch::Tensor cls_token_, mask_token_, position_embeddings_, register_tokens_;
  torch::nn::Conv2d projection_{nullptr};
  torch::nn::ModuleList layers_{nullptr};
  torch::nn::LayerNorm layernorm_{nullptr};
};
TORCH_MODULE(Dinov2);

// dgm-eval's input: bicubic (antialiased, requantised to uint8 as PIL does) to 224x224, x/255,
// ImageNet mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225). Gray images become RGB.
torch::Tensor dinov2_preprocess(const torch::Tensor& images_u8, int64_t size = 224);

// Official names -> transformers names (qkv split into query/key/value, ls1.gamma ->
// layer_scale1.lambda1, ...). A map already in transformers names (optionally under "dinov2.")
// comes back with the prefix removed. Heads ("head.*") are dropped.
core::TensorMap dinov2_to_hf_names(const core::TensorMap& weights);

// Infers the configuration from weight shapes (heads: `num_heads` or from the safetensors
// metadata "config" JSON, else hidden / 64), builds the model, loads the weights, eval mode.
Dinov2 load_dinov2(const std::string& path, const torch::Device& device = torch::kCPU, int64_t num_heads = 0);

}  // namespace fluxion::metrics
