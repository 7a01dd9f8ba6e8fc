#pragma once
// The configuration of diffusers' AutoencoderKL (the SD-VAE of latent SiT/DiT/REPA models), read
// from and written as diffusers' config.json fields so a model folder's config loads as it is.
#include <cstdint>
#include <string>
#include <vector>

namespace fluxion::models {

struct VaeConfig {
  int64_t in_channels = 3;
  int64_t out_channels = 3;
  int64_t latent_channels = 4;
  std::vector<int64_t> block_out_channels{128, 256, 512, 512};
  int64_t layers_per_block = 2;  // resnets per encoder block; the decoder has one more
  int64_t norm_num_groups = 32;
  // Latents seen by the generator: (posterior sample - shift_factor) * scaling_factor.
  double scaling_factor = 0.18215;
  double shift_factor = 0.0;
  bool use_quant_conv = true;
  bool use_post_quant_conv = true;
  bool mid_block_add_attention = true;

  int64_t downsampling_factor() const { return int64_t{1} << (block_out_channels.size() - 1); }
  void validate() const;  // throws fluxion::Error naming the bad field
};

// "sd-vae-ft-ema", "sd-vae-ft-mse" (stabilityai, the VAEs of SiT, DiT and REPA): the same
// architecture, 8x downsampling to 4 channels, scaling factor 0.18215.
VaeConfig vae_preset(const std::string& name);

// diffusers' config.json (unknown fields are ignored; an unsupported block type or activation is
// an error naming it) and back.
VaeConfig vae_config_from_json(const std::string& json);
std::string vae_config_to_json(const VaeConfig& config);

}  // namespace fluxion::models
