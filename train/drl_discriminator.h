#pragma once
// The discriminator of discriminator-guided RL finetuning (DRL, issue 11;
// ../shared/reference/drl_dale.md A.2 and D(ii)): a small head on frozen features phi(x) that
// tells real images (label 1) from the base model's samples (label 0). Trained with balanced
// binary cross-entropy, its logit estimates log p_data(phi | y) - log p_base(phi | y), the reward
// whose KL-regularised optimum (beta = 1) is p_base(x) p_data(phi(x)) / p_base(phi(x)).
//
//   head:  LayerNorm(d) -> Linear(d, hidden) -> GELU -> Linear(hidden, 1)
//          + <class_embed[y], hidden activation> for class-conditional models (projection
//          discriminator); the null label (>= num_classes) gets no class term.
// Batches are balanced (half real, half base) whatever the two set sizes, so the logit carries no
// log(n_data / n_base) offset and needs none subtracted.
#include <torch/torch.h>

#include <cstdint>
#include <string>

#include "core/safetensors.h"

namespace fluxion::train {

struct DiscriminatorConfig {
  int64_t feature_dim = 0;
  int64_t hidden = 1024;
  int64_t num_classes = 0;  // 0: unconditional
};

class DiscriminatorHeadImpl : public torch::nn::Module {
 public:
  explicit DiscriminatorHeadImpl(DiscriminatorConfig config);
  // features (B, d), labels (B) int64 -> logits (B), float32
  torch::Tensor forward(const torch::Tensor& features, const torch::Tensor& labels);
  const DiscriminatorConfig& config() const { return config_; }

  torch::nn::LayerNorm norm{nullptr};
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
  torch::nn::Embedding class_embed{nullptr};

 private:
  DiscriminatorConfig config_;
};
TORCH_MODULE(DiscriminatorHead);

struct DiscriminatorTraining {
  double lr = 1e-4;
  double weight_decay = 1e-2;
  int64_t batch = 256;       // half real, half base
  int64_t max_epochs = 100;  // epochs over the larger set
  int64_t patience = 5;      // epochs without a better held-out accuracy before stopping
  double holdout_fraction = 0.1;
  uint64_t seed = 0;
};

struct DiscriminatorFit {
  double train_accuracy = 0.0;    // of the kept weights, on the training split
  double holdout_accuracy = 0.0;  // balanced: the mean of the real and base accuracies
  double holdout_loss = 0.0;      // balanced BCE
  int64_t epochs = 0;             // run
  int64_t best_epoch = 0;         // whose weights are kept
};

// Trains `head` on real and base features (each (N, d) with labels (N)), early-stopped on the
// held-out balanced accuracy; the best epoch's weights are kept. Deterministic for a seed.
DiscriminatorFit train_discriminator(DiscriminatorHead& head, const torch::Tensor& real_features,
                                     const torch::Tensor& real_labels, const torch::Tensor& base_features,
                                     const torch::Tensor& base_labels, const DiscriminatorTraining& training);

// The reward r(x, y) = scale * logit(phi(x), y), (B), without gradient tracking unless the
// features require it (the reward-gradient algorithm differentiates through it).
torch::Tensor discriminator_reward(DiscriminatorHead& head, const torch::Tensor& features, const torch::Tensor& labels,
                                   double scale = 1.0);

// safetensors with the config, `features` (the feature-space spec it was trained in) and its
// held-out accuracy (< 0: unknown, not written) in the metadata; loading checks the file's config
// against what the caller needs and gives back the accuracy (-1 when the file lacks it).
void save_discriminator(const std::string& path, DiscriminatorHead& head, const std::string& features,
                        double holdout_accuracy = -1.0);
DiscriminatorHead load_discriminator(const std::string& path, std::string* features = nullptr,
                                     double* holdout_accuracy = nullptr);

}  // namespace fluxion::train
