#pragma once
// Evaluation during training (`fluxion train --eval-every N`): every N steps the first EMA's
// samples are scored by their Fréchet distance to a reference set, logged to metrics.jsonl
// ("eval_fd") and plotted in report.html.
//
// The samples are exactly those of `fluxion sample --n eval_samples --seed 0 --batch 250` with
// the grid's sampler settings (--grid-sampler, --grid-steps, --grid-cfg) on that step's
// checkpoint: class-balanced labels and the same seeded noise, so an evaluation can be repeated
// from the files. Features: --eval-features (auto: the Fashion-MNIST classifier for
// Fashion-MNIST data, else Inception); reference: --eval-ref, a dataset spec or a statistics
// .npz (default: the training data), whose statistics are computed once and cached in the run
// folder (eval-ref-FEATURES-DIGEST.npz).
#include <torch/torch.h>

#include <memory>
#include <string>

#include "core/safetensors.h"
#include "metrics/features.h"
#include "metrics/frechet.h"
#include "train/run_sampler.h"
#include "train/train_config.h"

namespace fluxion::train {

// "fmnist" for Fashion-MNIST data, "inception" otherwise, when `features` is "auto".
std::string resolve_eval_features(const TrainConfig& config);

class TrainingEval {
 public:
  static constexpr int64_t kBatch = 250;
  static constexpr uint64_t kSeed = 0;

  TrainingEval(RunSampler& sampler, const TrainConfig& config, int64_t num_classes, const std::string& run_dir);
  // The Fréchet distance of `weights`' samples to the reference.
  double fd(const core::TensorMap& weights);
  const std::string& features() const { return features_; }

 private:
  RunSampler& sampler_;
  int64_t samples_;
  int64_t num_classes_;
  std::string features_;
  std::unique_ptr<metrics::FeatureExtractor> extractor_;
  torch::Device device_;
  metrics::GaussianStats reference_;
};

}  // namespace fluxion::train
