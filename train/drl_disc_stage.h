#pragma once
// The discriminator stage of DRL finetuning (issue 11; drl_dale.md D(ii).1-3): M real images and
// M guidance-free, class-balanced samples of a model drawn with the evaluation sampler, both
// embedded by the frozen encoder, and the head (drl_discriminator.h) trained on them with
// balanced BCE, early-stopped on held-out accuracy. Runs once before RL and, with
// --refresh-every K, against the current policy every K steps.
#include <torch/torch.h>

#include "core/dataset.h"
#include "models/backbone.h"
#include "objectives/objective.h"
#include "train/drl_config.h"
#include "train/drl_discriminator.h"
#include "train/drl_encoder.h"

namespace fluxion::train {

struct LabelledImages {
  torch::Tensor images;  // float (N, C, H, W) in [-1, 1], CPU
  torch::Tensor labels;  // int64 (N)
};

// Opens the real data at the model's size: as it is, or zero-padded as training pads
// Fashion-MNIST (28 -> 32, at most 4 pixels a side); any other size or channel count is a
// one-line fluxion::Error.
std::shared_ptr<core::Dataset> open_finetune_data(const std::string& spec, int64_t channels, int64_t image_size);

// n images of `data` in a seeded random order.
LabelledImages draw_real_images(const core::Dataset& data, int64_t n, uint64_t seed, int threads);

// n guidance-free samples of `model` with `sampler`, labels cycling over the classes (the null
// label for an unconditional model), in batches; noise from `seed`.
LabelledImages draw_model_samples(models::Backbone& model, const objectives::ObjectiveSampler& sampler, int64_t n,
                                  int64_t num_classes, uint64_t seed, const torch::Device& device, int64_t batch = 256);

struct DiscriminatorStage {
  DiscriminatorHead head{nullptr};
  DiscriminatorFit fit;
};

// Embeds both sets and fits a new head (frozen afterwards); num_classes 0 for unconditional.
DiscriminatorStage fit_discriminator_stage(FrozenEncoder& encoder, const LabelledImages& real,
                                           const LabelledImages& generated, int64_t num_classes,
                                           const FinetuneConfig& config, uint64_t seed, const torch::Device& device);

}  // namespace fluxion::train
