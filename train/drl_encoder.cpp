#include "train/drl_encoder.h"

#include <filesystem>

#include "core/error.h"
#include "metrics/dinov2.h"
#include "metrics/features.h"
#include "metrics/fmnist_classifier.h"
#include "metrics/fmnist_resnet.h"
#include "metrics/inception_fid.h"
#include "metrics/weights_cache.h"

namespace fluxion::train {

namespace {
namespace F = torch::nn::functional;

// [-1, 1] -> [0, 255] float, the scale the evaluation networks' preprocessing expects
torch::Tensor to_pixels(const torch::Tensor& images) { return (images.to(torch::kFloat).clamp(-1, 1) + 1) * 127.5; }

torch::Tensor as_rgb(const torch::Tensor& x) { return x.size(1) == 1 ? x.expand({-1, 3, -1, -1}) : x; }

void freeze(torch::nn::Module& module) {
  for (auto& p : module.parameters()) p.set_requires_grad(false);
  module.eval();
}

class FmnistEncoder : public FrozenEncoder {
 public:
  FmnistEncoder(const std::string& weights, const torch::Device& device)
      : net_(metrics::load_or_train_fmnist_classifier(weights, device)), device_(device) {
    freeze(*net_);
  }
  torch::Tensor encode(const torch::Tensor& images) override {
    // (B, C, 32|28, .) -> gray (B, 1, 28, 28) -> (B, 128)
    return net_->forward(metrics::fmnist_preprocess(to_pixels(images.to(device_)))).features;
  }
  int64_t dim() const override { return 128; }
  std::string describe() const override { return "fmnist classifier (128-d penultimate layer)"; }

 private:
  metrics::FmnistClassifier net_;
  torch::Device device_;
};

class FmnistResnetEncoder : public FrozenEncoder {
 public:
  FmnistResnetEncoder(const std::string& weights, const torch::Device& device)
      : net_(metrics::load_or_train_fmnist_resnet(weights, device)), device_(device) {
    freeze(*net_);
  }
  torch::Tensor encode(const torch::Tensor& images) override {
    // (B, C, 32|28, .) -> gray (B, 1, 28, 28) -> (B, 128)
    return net_->forward(metrics::fmnist_preprocess(to_pixels(images.to(device_)))).features;
  }
  int64_t dim() const override { return metrics::FmnistResnetImpl::kFeatureDim; }
  std::string describe() const override { return "fmnist resnet (128-d pooled features)"; }

 private:
  metrics::FmnistResnet net_;
  torch::Device device_;
};

class InceptionEncoder : public FrozenEncoder {
 public:
  InceptionEncoder(const std::string& weights, bool adm, int64_t dims, const torch::Device& device)
      : net_(metrics::load_inception_fid(weights, device)), adm_(adm), dims_(dims), device_(device) {
    freeze(*net_);
  }
  torch::Tensor encode(const torch::Tensor& images) override {
    auto x = as_rgb(to_pixels(images.to(device_)));  // (B, 3, H, W) in [0, 255]
    if (adm_) {
      x = (metrics::resize_bilinear_tf1(x, 299, 299) - 128.0f) / 128.0f;
    } else {
      x = 2.0f * torch::upsample_bilinear2d(x / 255.0f, {299, 299}, /*align_corners=*/false) - 1.0f;
    }
    const auto out = net_->forward(x);  // (B, 3, 299, 299) -> blocks
    return dims_ == 64 ? out.block0 : dims_ == 192 ? out.block1 : dims_ == 768 ? out.block2 : out.pool3;
  }
  int64_t dim() const override { return dims_; }
  std::string describe() const override { return adm_ ? "inception (ADM/TF)" : "inception (pytorch-fid)"; }

 private:
  metrics::InceptionFid net_;
  bool adm_;
  int64_t dims_;
  torch::Device device_;
};

class Dinov2Encoder : public FrozenEncoder {
 public:
  Dinov2Encoder(const std::string& weights, const torch::Device& device)
      : net_(metrics::load_dinov2(weights, device)), device_(device) {
    freeze(*net_);
    dim_ = net_->forward(torch::zeros({1, 3, 224, 224}, torch::TensorOptions().device(device))).cls.size(1);
  }
  torch::Tensor encode(const torch::Tensor& images) override {
    auto x = as_rgb(to_pixels(images.to(device_))) / 255.0f;  // (B, 3, H, W) in [0, 1]
    if (x.size(2) != 224 || x.size(3) != 224)
      x = F::interpolate(x, F::InterpolateFuncOptions()
                                .size(std::vector<int64_t>{224, 224})
                                .mode(torch::kBicubic)
                                .align_corners(false)
                                .antialias(true));
    const auto opts = x.options();
    const auto mean = torch::tensor({0.485f, 0.456f, 0.406f}, opts).view({1, 3, 1, 1});
    const auto std = torch::tensor({0.229f, 0.224f, 0.225f}, opts).view({1, 3, 1, 1});
    return net_->forward((x - mean) / std).cls;  // (B, 3, 224, 224) -> (B, C)
  }
  int64_t dim() const override { return dim_; }
  std::string describe() const override { return "dinov2 (CLS)"; }

 private:
  metrics::Dinov2 net_;
  torch::Device device_;
  int64_t dim_ = 0;
};

// The weights file of a spec, fetched into the cache when it is the pinned default (as
// metrics::make_feature_extractor does).
std::string resolve_weights(const metrics::FeatureSpec& spec) {
  namespace fs = std::filesystem;
  if (spec.kind == metrics::FeatureKind::fmnist || spec.kind == metrics::FeatureKind::fmnist_resnet ||
      fs::exists(spec.weights))
    return spec.weights;
  const auto* pinned = metrics::find_pinned_weights(fs::path(spec.weights).filename().string());
  const auto cached = (fs::path(metrics::default_cache_dir()) / fs::path(spec.weights).filename()).string();
  if (pinned && spec.weights == cached) return metrics::fetch_pinned_weights(*pinned, metrics::default_cache_dir());
  fail("--features ", spec.text, ": weights file ", spec.weights, " does not exist");
}
}  // namespace

std::unique_ptr<FrozenEncoder> make_frozen_encoder(const std::string& text, const torch::Device& device) {
  const auto spec = metrics::parse_feature_spec(text);
  const auto weights = resolve_weights(spec);
  switch (spec.kind) {
    case metrics::FeatureKind::fmnist: return std::make_unique<FmnistEncoder>(weights, device);
    case metrics::FeatureKind::fmnist_resnet: return std::make_unique<FmnistResnetEncoder>(weights, device);
    case metrics::FeatureKind::inception:
    case metrics::FeatureKind::inception_adm:
      return std::make_unique<InceptionEncoder>(weights, spec.kind == metrics::FeatureKind::inception_adm, spec.dims,
                                                device);
    case metrics::FeatureKind::dinov2: return std::make_unique<Dinov2Encoder>(weights, device);
  }
  fail("--features: unhandled extractor ", text);
}

torch::Tensor encode_all(FrozenEncoder& encoder, const torch::Tensor& images, int64_t chunk) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> parts;
  for (int64_t i = 0; i < images.size(0); i += chunk)
    parts.push_back(encoder.encode(images.slice(0, i, std::min(images.size(0), i + chunk))).cpu());
  return torch::cat(parts);
}

}  // namespace fluxion::train
