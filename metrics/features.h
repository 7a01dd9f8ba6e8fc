#pragma once
// Feature extractors behind one interface, selected by a spec string, and the streaming loop
// that runs one over a dataset: images are decoded on several threads (the next batch while the
// network runs on the current one), pushed through the network on the chosen device, and
// folded into float64 statistics.
//
// Specs: inception[:WEIGHTS]      pytorch-fid's pipeline (bilinear, 2x - 1): pytorch-fid numbers
//        inception-adm[:WEIGHTS]  TF1 bilinear and (x - 128) / 128: ADM / torch-fidelity numbers
//        dinov2[:WEIGHTS]         CLS after the final norm, dgm-eval preprocessing
//        fmnist[:WEIGHTS]         fluxion's Fashion-MNIST classifier (trained and cached on
//                                 first use when WEIGHTS is absent)
//        fmnist-resnet[:WEIGHTS]  fluxion's second Fashion-MNIST network, a small ResNet
//                                 (fmnist_resnet.h): 128-d pooled features, logits for IS
// Without WEIGHTS the file is looked up in the cache folder ($FLUXION_CACHE, else
// ~/.cache/fluxion): pt_inception-2015-12-05.safetensors, dinov2_vitl14.safetensors,
// fmnist_classifier.safetensors, fmnist_resnet.safetensors (the two fmnist networks fall back
// to the files shipped in metrics/weights/).
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>

#include "core/dataset.h"
#include "core/rank_group.h"
#include "metrics/feature_stats.h"

namespace fluxion::metrics {

enum class FeatureKind { inception, inception_adm, dinov2, fmnist, fmnist_resnet };

struct FeatureSpec {
  FeatureKind kind = FeatureKind::inception;
  std::string weights;  // resolved path
  std::string text;     // as given, for reports
  // Inception only: which block's spatial mean is the feature, as pytorch-fid's --dims: 64, 192,
  // 768 or 2048 (pool3, the default).
  int64_t dims = 2048;
};

FeatureSpec parse_feature_spec(const std::string& text);

std::string default_cache_dir();

struct FeatureBatch {
  torch::Tensor features;  // (B, D)
  torch::Tensor logits;    // (B, K) class logits (for IS), undefined when the network has none
  torch::Tensor spatial;   // (B, S) sFID features, Inception only
};

class FeatureExtractor {
 public:
  virtual ~FeatureExtractor() = default;
  // uint8 (B, C, H, W) on any device -> features on the extractor's device
  virtual FeatureBatch extract(const torch::Tensor& images_u8) = 0;
  virtual std::string name() const = 0;
};

std::unique_ptr<FeatureExtractor> make_feature_extractor(const FeatureSpec& spec, const torch::Device& device);

struct ExtractOptions {
  int64_t batch_size = 50;
  int threads = 0;             // decoding threads, 0: all cores
  int64_t limit = 0;           // use only the first `limit` images when > 0
  bool keep_features = false;  // keep (N, D) float32 features on the CPU (KID, PR)
  bool keep_logits = false;    // keep (N, K) logits (IS)
  bool progress = true;
  // called with every decoded uint8 batch (CPU) before it goes to the network (spectra)
  std::function<void(const torch::Tensor&)> on_images;
  // Several ranks: each extracts a contiguous run of the batches, rank 0 gathers the features
  // and gets the single process's ExtractedSet to the bit; the others get an empty one.
  core::RankGroup* ranks = nullptr;
};

struct ExtractedSet {
  FeatureStats stats;          // of the features
  FeatureStats spatial_stats;  // of the sFID features (Inception only)
  torch::Tensor features;      // when kept
  torch::Tensor logits;        // when kept
  int64_t count = 0;
};

ExtractedSet extract_dataset(const core::Dataset& data, FeatureExtractor& extractor, const torch::Device& device,
                             const ExtractOptions& options);

}  // namespace fluxion::metrics
