#pragma once
// What a training run draws its batches from: images (any core::Dataset spec, padded or resized
// to the run's size) or SD-VAE latents (`latents:PATH`, the moments `fluxion encode` writes, a
// fresh posterior sample per step). Both walk the same seeded BatchOrder, so resuming and
// data-parallel slices behave alike.
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>

#include "core/dataset.h"
#include "models/vae_config.h"
#include "train/train_config.h"

namespace fluxion::train {

class TrainingData {
 public:
  struct Batch {
    torch::Tensor x;       // float (B, C, S, S): images in [-1, 1], or scaled latents
    torch::Tensor labels;  // int64 (B); -1 unlabelled
  };
  virtual ~TrainingData() = default;
  virtual std::string describe() const = 0;
  virtual int64_t channels() const = 0;
  virtual int64_t side() const = 0;         // S: the model's input size
  virtual int64_t num_classes() const = 0;  // 0 when unlabelled
  virtual Batch next() = 0;                 // this rank's part of the next global (micro-)batch
  virtual int64_t position() const = 0;     // examples consumed since the start (global)
  virtual void set_position(int64_t position) = 0;
  virtual void set_shard(int rank, int world_size) = 0;
  // The images behind the batches, for objectives that fit a state on the data (Dale's prior);
  // null for latents.
  virtual const core::Dataset* images() const { return nullptr; }
  // The VAE config of latent data (whose decoder turns samples into images); null for images.
  virtual const models::VaeConfig* latent_vae() const { return nullptr; }
};

// config.data: a dataset spec (core/dataset.h) or latents:PATH. `batch` is the micro-batch (the
// global batch over --grad-accum); `seed` orders the data and draws the latents.
std::unique_ptr<TrainingData> open_training_data(const TrainConfig& config, int64_t batch, uint64_t seed);

}  // namespace fluxion::train
