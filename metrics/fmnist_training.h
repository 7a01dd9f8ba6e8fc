#pragma once
// What fluxion's two Fashion-MNIST feature networks share (fmnist_classifier.h, the conv-conv-fc-fc
// classifier behind `--features fmnist`, and fmnist_resnet.h, the residual network behind
// `--features fmnist-resnet`): the splits, the training loop, test accuracy and the cache file.
#include <torch/torch.h>

#include <functional>
#include <string>
#include <utility>

#include "core/safetensors.h"

namespace fluxion::metrics {

// Every image and label of a split as uint8 (N, 1, 28, 28) and int64 (N)
std::pair<torch::Tensor, torch::Tensor> load_fmnist_split(const std::string& spec);

// uint8 (B, C, H, W) on the model's device -> logits (B, 10)
using FmnistLogits = std::function<torch::Tensor(const torch::Tensor& images_u8)>;

// Fraction of fashion-mnist:test (its first `limit` images when > 0) that `logits` classifies
// correctly, in batches of 1000 without gradients. The caller puts the model in eval mode.
double fmnist_accuracy(const FmnistLogits& logits, const torch::Device& device, int64_t limit = 0);

struct FmnistTrainLoop {
  std::string label;  // of the progress line
  int epochs = 6;
  int64_t batch_size = 128;
  uint64_t seed = 0;  // batch order and augmentation draws
  // learning rate of step `step` of `steps` in all (set before every step)
  std::function<double(int64_t step, int64_t steps_per_epoch, int64_t steps)> learning_rate;
  // uint8 (B, 1, 28, 28) CPU batch -> augmented batch of the same shape, drawing only from `gen`;
  // empty: none (and no draws)
  std::function<torch::Tensor(const torch::Tensor& images_u8, at::Generator& gen)> augment;
};

// Minimises cross-entropy on fashion-mnist:train: per epoch a seeded permutation, then full
// batches (the remainder is dropped). `model` is on `device`; it is left in eval mode.
void train_fmnist_model(torch::nn::Module& model, torch::optim::Optimizer& optimizer, const FmnistLogits& logits,
                        const torch::Device& device, const FmnistTrainLoop& loop);

// Loads `path` into `model` (strict names and shapes; `what` names the network in errors), moves
// it to `device` and sets eval mode.
void load_fmnist_weights(torch::nn::Module& model, const std::string& path, const torch::Device& device,
                         const std::string& what);

// The last step of load-or-train: logs "<What> test accuracy: A%", refuses (throws, writes
// nothing) below `required`, else writes `weights` to `path` with test_accuracy, dataset and
// `metadata` in the header.
void cache_fmnist_weights(const std::string& path, const core::TensorMap& weights, double accuracy, double required,
                          const std::string& what, core::Metadata metadata = {});

// metrics/weights/FILE in the source tree when it exists, else "".
std::string shipped_fmnist_weights(const std::string& file);

}  // namespace fluxion::metrics
