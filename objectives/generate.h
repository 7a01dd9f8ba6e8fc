#pragma once
// Sampling a checkpoint to files: `fluxion sample`. Loads the weights (EMA by default) and the
// model and objective configs stored with them, samples in batches with the sampler the objective
// gives (objective.h) and a progress bar, writes a PNG per image, a grid and an ADM-style .npz
// (arr_0 uint8 NHWC, arr_1 int64 labels).
//
// Reproducibility: image i's initial noise comes from its own generator seeded by (seed, i), so
// the same seed gives the same images whatever the batch size, and a re-run into the same folder
// can skip the images already written and still produce identical files. SDE samplers draw their
// increments per batch (seed, first index of the batch): their output depends on the batch size.
//
// Several ranks (GenerateConfig::ranks, from fluxion launch / torchrun) each sample a contiguous
// run of the same batches and write their PNGs; rank 0 gathers the images, writes the grid, the
// .npz and any PNG its folder lacks (no shared filesystem needed): the files are byte-identical
// to one process's with the same --batch.
#include <torch/torch.h>

#include <cstdint>
#include <string>

#include "core/rank_group.h"
#include "samplers/sampler.h"

namespace fluxion::objectives {

struct GenerateConfig {
  std::string checkpoint;
  std::string weights = "ema";  // ema | ema1 | ... | model
  std::string model;            // zoo name for files without a stored config (official weights)
  int64_t image_size = 0;       // overrides for official weights (0: the zoo's)
  int64_t channels = 0;
  int64_t num_classes = 0;
  int64_t n = 100;
  int64_t batch = 50;
  std::string classes = "balanced";  // balanced | K (every image of class K)
  uint64_t seed = 0;
  std::string device = "auto";
  std::string precision = "auto";
  bool cuda_graphs = true;  // on CUDA, the network replayed from CUDA graphs (samplers/graphed_model.h)
  std::string out;          // folder of PNGs ("" for none)
  std::string grid;         // grid PNG ("" for none)
  int64_t grid_images = 100;
  std::string npz;         // ADM .npz ("" for none)
  std::string init_noise;  // .npy of (n, C, H, W) float noise instead of seeded draws
  // Latent models: the samples are SD-VAE latents, decoded to images by this AutoencoderKL
  // (weights .safetensors; vae_config a diffusers config.json, "" for the SD-VAE)
  std::string vae;
  std::string vae_config;
  std::string quantization = "sit";  // sit: clamp(127.5 x + 128) | adm: floor((x + 1) 127.5)
  samplers::SamplerConfig sampler;   // dls|ums for dale checkpoints
  std::string prior = "auto";        // dale: auto | class | channel (dale_prior.h)
  // Which sampler fields the user set explicitly (others come from the checkpoint's objective).
  bool prediction_given = false;
  bool path_given = false;
  core::RankGroup* ranks = nullptr;  // null: one process
};

// On rank 0 the counts are the sums over the ranks.
struct GenerateResult {
  int64_t generated = 0;  // images sampled in this run
  int64_t skipped = 0;    // images already in `out`
  int64_t nfe_per_batch = 0;
  int64_t lost_images = 0;  // ums: images whose values left the positive range (written as filler)
  double images_per_second = 0.0;
  std::string sampler_description;
};

GenerateResult generate(const GenerateConfig& config);

// The initial noise of images [first, first + count) of `fluxion sample --seed seed`: image i's
// from its own generator seeded by (seed, i). float (count, channels, size, size) on the CPU.
torch::Tensor sample_noise(uint64_t seed, int64_t first, int64_t count, int64_t channels, int64_t size);
// The generator the SDE samplers of `fluxion sample --seed seed` draw from in the batch that
// starts at image `first`.
at::Generator sample_batch_generator(uint64_t seed, int64_t first, const torch::Device& device);
// The labels of `fluxion sample --classes balanced`: int64 (n), class-cycling (0 when
// unconditional).
torch::Tensor balanced_labels(int64_t n, int64_t num_classes);

}  // namespace fluxion::objectives
