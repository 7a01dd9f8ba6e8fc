#pragma once
// The SD-VAE posterior moments `fluxion encode` writes (train/encode_latents.h), read back for
// latent training, and the latents drawn from them: SiT's train.py encodes each batch on the fly
// and trains on vae.encode(x).latent_dist.sample() * 0.18215; with stored moments the same
// distribution is sampled per step, mean + exp(logvar / 2) * eps, without running the encoder.
#include <torch/torch.h>

#include <cstdint>
#include <string>

#include "models/vae_config.h"

namespace fluxion::train {

struct LatentMoments {
  torch::Tensor moments;    // float32 (N, 2L, h, w): posterior mean, then log-variance (diffusers)
  torch::Tensor labels;     // int64 (N); -1 where the images had no class
  models::VaeConfig vae;    // the encoder's config: scaling and shift factors, downsampling
  int64_t num_classes = 0;  // max label + 1 (0: unlabelled)
  std::string source;

  int64_t size() const { return moments.size(0); }
  int64_t latent_channels() const { return moments.size(1) / 2; }
  int64_t side() const { return moments.size(2); }
  std::string describe() const;
};

// FILE.npz (one archive) or DIR of moments-NNNNNN.npz shards with DIR/vae.json. Every shard is
// read into memory (N x 2L x h x w float32: 8 KiB per 256-px image). Shapes, dtypes and labels
// are checked; a bad file is one line naming it.
LatentMoments load_latent_moments(const std::string& path);

// Latents the generator trains on, from moments (B, 2L, h, w) and standard normal eps
// (B, L, h, w): (mean + exp(logvar / 2) * eps - shift) * scale.
torch::Tensor draw_latents(const torch::Tensor& moments, const torch::Tensor& eps, const models::VaeConfig& vae);

}  // namespace fluxion::train
