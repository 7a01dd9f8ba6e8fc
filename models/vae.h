#pragma once
// diffusers' AutoencoderKL (the SD-VAE of latent SiT, DiT and REPA), with its state-dict names:
// encoder.*, quant_conv, post_quant_conv, decoder.*. A converted
// `diffusion_pytorch_model.safetensors` loads as it is; the older attention names of the first
// uploads (query, key, value, proj_attn) are renamed on load as diffusers does.
//
//   encode:  images in [-1, 1] (B, 3, H, W) -> posterior mean and log-variance (B, 4, H/8, W/8),
//            log-variance clamped to [-30, 20] (DiagonalGaussianDistribution)
//   latents: (mean + exp(logvar / 2) eps - shift_factor) * scaling_factor, what the generator sees
//   decode:  latents -> images, decoder(post_quant_conv(latents / scaling_factor + shift_factor))
#include <torch/torch.h>

#include <memory>
#include <string>

#include "core/safetensors.h"
#include "models/vae_blocks.h"
#include "models/vae_config.h"

namespace fluxion::models {

class VaeEncoderImpl : public torch::nn::Module {
 public:
  explicit VaeEncoderImpl(const VaeConfig& config);
  torch::Tensor forward(torch::Tensor x);  // (B, C, H, W) -> (B, 2 * latent, H / f, W / f)

  torch::nn::Conv2d conv_in{nullptr}, conv_out{nullptr};
  torch::nn::ModuleList down_blocks{nullptr};
  VaeMidBlock mid_block{nullptr};
  torch::nn::GroupNorm conv_norm_out{nullptr};
};
TORCH_MODULE(VaeEncoder);

class VaeDecoderImpl : public torch::nn::Module {
 public:
  explicit VaeDecoderImpl(const VaeConfig& config);
  torch::Tensor forward(torch::Tensor z);  // (B, latent, h, w) -> (B, C, h * f, w * f)

  torch::nn::Conv2d conv_in{nullptr}, conv_out{nullptr};
  VaeMidBlock mid_block{nullptr};
  torch::nn::ModuleList up_blocks{nullptr};
  torch::nn::GroupNorm conv_norm_out{nullptr};
};
TORCH_MODULE(VaeDecoder);

struct VaePosterior {
  torch::Tensor mean, logvar;  // (B, latent, h, w)
};

class AutoencoderKLImpl : public torch::nn::Module {
 public:
  explicit AutoencoderKLImpl(VaeConfig config);

  VaePosterior encode(const torch::Tensor& images);
  // The generator's latents for images, with the posterior sample's standard normal draws `eps`
  // (shaped like the mean); an undefined `eps` takes the posterior mean.
  torch::Tensor latents(const torch::Tensor& images, const torch::Tensor& eps = {});
  // Images in about [-1, 1] (not clamped) from the generator's latents, in the weights' dtype:
  // a VAE cast with to(torch::kBFloat16) decodes in bfloat16 (diffusers' vae.to(torch.bfloat16),
  // faster than autocast on a GPU), a float32 one in float32.
  torch::Tensor decode(const torch::Tensor& latents);
  // The decoder on raw posterior values (no scaling): diffusers' AutoencoderKL.decode.
  torch::Tensor decode_raw(const torch::Tensor& z);

  // Strict load (names and shapes); `source` names the file in errors.
  void load_state(const core::TensorMap& tensors, const std::string& source);
  const VaeConfig& config() const { return config_; }

  VaeEncoder encoder{nullptr};
  VaeDecoder decoder{nullptr};
  torch::nn::Conv2d quant_conv{nullptr}, post_quant_conv{nullptr};

 private:
  VaeConfig config_;
};
TORCH_MODULE(AutoencoderKL);

// diffusers' renames of the first SD-VAE uploads: <attention>.query -> to_q, key -> to_k,
// value -> to_v, proj_attn -> to_out.0 (weights and biases). Other names are kept.
core::TensorMap rename_legacy_vae_attention(const core::TensorMap& tensors);

// The VAE of a weights file: a safetensors state dict with the architecture of `config_path`
// (diffusers' config.json; empty: the SD-VAE preset), loaded on `device` in float32.
AutoencoderKL load_vae(const std::string& weights_path, const std::string& config_path, const torch::Device& device);

}  // namespace fluxion::models
