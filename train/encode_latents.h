#pragma once
// `fluxion encode`: an image set to SD-VAE posterior moments for latent training, as SiT's and
// REPA's feature extraction prepare ImageNet (ADM centre crop, optional horizontal-flip copies).
//
// What is stored is the posterior (mean and log-variance, 2 x latent channels), not one sample,
// so training can draw a fresh latent per step exactly as SiT's train.py does on the fly
// (vae.encode(x).latent_dist.sample() * 0.18215). Output:
//   FILE.npz   one archive: moments float32 (N, 2L, h, w), labels int64 (N), flipped uint8 (N),
//              vae_config uint8 (the VAE's config.json, with its scaling factor)
//   DIR        shards DIR/moments-000000.npz ... of `shard_size` images each plus DIR/vae.json
//              (the VAE config with its scaling factor); finished shards are kept when a run is
//              repeated, so a killed encode resumes at the first missing shard.
// Several ranks (fluxion launch, torchrun) split each shard's batches; rank 0 gathers and writes
// every file, byte-identical to one process's with the same --batch.
#include <cstdint>
#include <string>

#include "core/rank_group.h"

namespace fluxion::train {

struct EncodeConfig {
  std::string images;      // dataset spec (a class-folder tree such as ImageNet's train/)
  std::string vae;         // AutoencoderKL weights (.safetensors, diffusers names)
  std::string vae_config;  // diffusers config.json ("" : the SD-VAE, sd-vae-ft-ema/mse)
  std::string output;      // FILE.npz or a folder of shards
  int64_t image_size = 256;
  std::string crop = "adm";  // adm (ADM/SiT center_crop_arr) | resize (shorter side + centre crop)
  bool flip = false;         // also encode each image's horizontal mirror (2N entries)
  int64_t batch = 32;
  int64_t shard_size = 10000;  // images per shard in folder output
  int64_t limit = 0;           // only the first N images (0: all)
  std::string device = "auto";
  std::string precision = "auto";    // auto (bf16 on CUDA) | fp32 | bf16
  int threads = 0;                   // decoding threads (0: all cores)
  core::RankGroup* ranks = nullptr;  // null: one process
};

struct EncodeResult {
  int64_t encoded = 0;  // entries written in this run (flips included)
  int64_t kept = 0;     // entries of shards already there
  int64_t shards = 0;
  double images_per_second = 0.0;
};

EncodeResult encode_latents(const EncodeConfig& config);

}  // namespace fluxion::train
