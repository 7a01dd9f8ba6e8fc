#include "models/vae_blocks.h"

#include <cmath>

#include "core/compat.h"
#include "models/layers.h"

namespace fluxion::models {

namespace {
constexpr double kNormEps = 1e-6;

torch::nn::GroupNorm group_norm(int64_t groups, int64_t channels) {
  return torch::nn::GroupNorm(torch::nn::GroupNormOptions(groups, channels).eps(kNormEps));
}

torch::nn::Conv2d conv(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1, int64_t padding = -1) {
  return torch::nn::Conv2d(
      torch::nn::Conv2dOptions(in, out, kernel).stride(stride).padding(padding < 0 ? kernel / 2 : padding));
}
}  // namespace

VaeResnetBlockImpl::VaeResnetBlockImpl(int64_t in_channels, int64_t out_channels, int64_t groups) {
  norm1 = register_module("norm1", group_norm(groups, in_channels));
  conv1 = register_module("conv1", conv(in_channels, out_channels, 3));
  norm2 = register_module("norm2", group_norm(groups, out_channels));
  conv2 = register_module("conv2", conv(out_channels, out_channels, 3));
  if (in_channels != out_channels) conv_shortcut = register_module("conv_shortcut", conv(in_channels, out_channels, 1));
}

torch::Tensor VaeResnetBlockImpl::forward(const torch::Tensor& x) {
  auto h = conv1->forward(torch::silu(norm1->forward(x)));
  h = conv2->forward(torch::silu(norm2->forward(h)));
  return (conv_shortcut ? conv_shortcut->forward(x) : x) + h;
}

VaeAttentionImpl::VaeAttentionImpl(int64_t channels, int64_t groups) {
  group_norm = register_module("group_norm", fluxion::models::group_norm(groups, channels));
  to_q = register_module("to_q", torch::nn::Linear(channels, channels));
  to_k = register_module("to_k", torch::nn::Linear(channels, channels));
  to_v = register_module("to_v", torch::nn::Linear(channels, channels));
  out_proj = torch::nn::Linear(channels, channels);
  to_out = register_module("to_out", torch::nn::ModuleList(out_proj));
}

torch::Tensor VaeAttentionImpl::forward(const torch::Tensor& x) {
  const auto batch = x.size(0), channels = x.size(1), height = x.size(2), width = x.size(3);
  // (B, C, H, W) -> (B, 1, HW, C): one head over the positions
  auto tokens = group_norm->forward(x).flatten(2).transpose(1, 2);
  auto q = linear(*to_q, tokens).unsqueeze(1);
  auto k = linear(*to_k, tokens).unsqueeze(1);
  auto v = linear(*to_v, tokens).unsqueeze(1);
  auto attended = compat::scaled_dot_product_attention(q, k, v, 1.0 / std::sqrt(static_cast<double>(channels)));
  auto out = linear(out_proj, attended.squeeze(1));
  // (B, HW, C) -> (B, C, H, W)
  return out.transpose(1, 2).reshape({batch, channels, height, width}) + x;
}

VaeMidBlockImpl::VaeMidBlockImpl(int64_t channels, int64_t groups, bool add_attention) {
  resnets = register_module("resnets", torch::nn::ModuleList(VaeResnetBlock(channels, channels, groups),
                                                             VaeResnetBlock(channels, channels, groups)));
  attentions = register_module("attentions", torch::nn::ModuleList());
  if (add_attention) attentions->push_back(VaeAttention(channels, groups));
}

torch::Tensor VaeMidBlockImpl::forward(torch::Tensor x) {
  x = resnets[0]->as<VaeResnetBlock>()->forward(x);
  if (!attentions->is_empty()) x = attentions[0]->as<VaeAttention>()->forward(x);
  return resnets[1]->as<VaeResnetBlock>()->forward(x);
}

VaeDownBlockImpl::VaeDownBlockImpl(int64_t in_channels, int64_t out_channels, int64_t layers, int64_t groups,
                                   bool downsample) {
  resnets = register_module("resnets", torch::nn::ModuleList());
  for (int64_t i = 0; i < layers; ++i)
    resnets->push_back(VaeResnetBlock(i == 0 ? in_channels : out_channels, out_channels, groups));
  if (downsample) {
    // diffusers' Downsample2D(padding=0) keeps its conv under `conv` inside `downsamplers.0`
    auto down = std::make_shared<torch::nn::Module>("Downsample2D");
    down_conv = down->register_module("conv", conv(out_channels, out_channels, 3, 2, 0));
    downsamplers = register_module("downsamplers", torch::nn::ModuleList(down));
  }
}

torch::Tensor VaeDownBlockImpl::forward(torch::Tensor x) {
  for (const auto& resnet : *resnets) x = resnet->as<VaeResnetBlock>()->forward(x);
  if (down_conv) {
    // asymmetric zero padding (right and bottom) before the stride-2 conv, as the LDM VAE does
    x = down_conv->forward(torch::constant_pad_nd(x, {0, 1, 0, 1}, 0));
  }
  return x;
}

VaeUpBlockImpl::VaeUpBlockImpl(int64_t in_channels, int64_t out_channels, int64_t layers, int64_t groups,
                               bool upsample) {
  resnets = register_module("resnets", torch::nn::ModuleList());
  for (int64_t i = 0; i < layers; ++i)
    resnets->push_back(VaeResnetBlock(i == 0 ? in_channels : out_channels, out_channels, groups));
  if (upsample) {
    auto up = std::make_shared<torch::nn::Module>("Upsample2D");
    up_conv = up->register_module("conv", conv(out_channels, out_channels, 3));
    upsamplers = register_module("upsamplers", torch::nn::ModuleList(up));
  }
}

torch::Tensor VaeUpBlockImpl::forward(torch::Tensor x) {
  for (const auto& resnet : *resnets) x = resnet->as<VaeResnetBlock>()->forward(x);
  if (up_conv) {
    namespace F = torch::nn::functional;
    // (B, C, H, W) -> (B, C, 2H, 2W), nearest
    x = F::interpolate(x,
                       F::InterpolateFuncOptions().scale_factor(std::vector<double>{2.0, 2.0}).mode(torch::kNearest));
    x = up_conv->forward(x);
  }
  return x;
}

}  // namespace fluxion::models
