#pragma once
// The blocks of diffusers' AutoencoderKL, with its submodule names so that its state dict loads
// as it is: ResnetBlock2D (norm1, conv1, norm2, conv2, conv_shortcut), the mid-block attention
// (group_norm, to_q, to_k, to_v, to_out.0), Downsample2D / Upsample2D (conv), and the encoder's
// down blocks, the decoder's up blocks and the mid block that hold them.
// Activation SiLU, GroupNorm eps 1e-6 everywhere, as AutoencoderKL builds them.
#include <torch/torch.h>

namespace fluxion::models {

// GroupNorm -> SiLU -> conv3x3 -> GroupNorm -> SiLU -> conv3x3, plus the input (through a 1x1
// conv when the width changes).
class VaeResnetBlockImpl : public torch::nn::Module {
 public:
  VaeResnetBlockImpl(int64_t in_channels, int64_t out_channels, int64_t groups);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::GroupNorm norm1{nullptr}, norm2{nullptr};
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv_shortcut{nullptr};
};
TORCH_MODULE(VaeResnetBlock);

// Single-head self-attention over the H*W positions, with a residual connection (diffusers'
// Attention with _from_deprecated_attn_block, AttnProcessor2_0).
class VaeAttentionImpl : public torch::nn::Module {
 public:
  VaeAttentionImpl(int64_t channels, int64_t groups);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::GroupNorm group_norm{nullptr};
  torch::nn::Linear to_q{nullptr}, to_k{nullptr}, to_v{nullptr};
  torch::nn::ModuleList to_out{nullptr};  // [Linear] (diffusers' [Linear, Dropout]; dropout has no state)
  torch::nn::Linear out_proj{nullptr};    // to_out.0
};
TORCH_MODULE(VaeAttention);

// resnet -> (attention -> resnet); attention optional (mid_block_add_attention).
class VaeMidBlockImpl : public torch::nn::Module {
 public:
  VaeMidBlockImpl(int64_t channels, int64_t groups, bool add_attention);
  torch::Tensor forward(torch::Tensor x);

  torch::nn::ModuleList resnets{nullptr}, attentions{nullptr};
};
TORCH_MODULE(VaeMidBlock);

// DownEncoderBlock2D: `layers` resnets, then a stride-2 3x3 conv after padding (0, 1, 0, 1) on
// every block but the last.
class VaeDownBlockImpl : public torch::nn::Module {
 public:
  VaeDownBlockImpl(int64_t in_channels, int64_t out_channels, int64_t layers, int64_t groups, bool downsample);
  torch::Tensor forward(torch::Tensor x);

  torch::nn::ModuleList resnets{nullptr}, downsamplers{nullptr};
  torch::nn::Conv2d down_conv{nullptr};  // downsamplers.0.conv
};
TORCH_MODULE(VaeDownBlock);

// UpDecoderBlock2D: `layers` resnets, then nearest 2x upsampling and a 3x3 conv on every block
// but the last.
class VaeUpBlockImpl : public torch::nn::Module {
 public:
  VaeUpBlockImpl(int64_t in_channels, int64_t out_channels, int64_t layers, int64_t groups, bool upsample);
  torch::Tensor forward(torch::Tensor x);

  torch::nn::ModuleList resnets{nullptr}, upsamplers{nullptr};
  torch::nn::Conv2d up_conv{nullptr};  // upsamplers.0.conv
};
TORCH_MODULE(VaeUpBlock);

}  // namespace fluxion::models
