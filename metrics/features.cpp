#include "metrics/features.h"

#include <cstdlib>
#include <filesystem>
#include <future>
#include <numeric>

#include "core/error.h"
#include "core/progress.h"
#include "core/rank_group.h"
#include "metrics/dinov2.h"
#include "metrics/fmnist_classifier.h"
#include "metrics/fmnist_resnet.h"
#include "metrics/inception_fid.h"
#include "metrics/weights_cache.h"

namespace fluxion::metrics {

namespace {
class InceptionExtractor : public FeatureExtractor {
 public:
  InceptionExtractor(const std::string& weights, InceptionPreprocess mode, int64_t dims, const torch::Device& device)
      : net_(load_inception_fid(weights, device)), mode_(mode), dims_(dims), device_(device) {}
  FeatureBatch extract(const torch::Tensor& images_u8) override {
    torch::NoGradGuard no_grad;
    const auto out = net_->extract(images_u8.to(device_), mode_);
    const auto& features = dims_ == 64 ? out.block0 : dims_ == 192 ? out.block1 : dims_ == 768 ? out.block2 : out.pool3;
    return {features, out.logits_nobias, out.spatial};
  }
  std::string name() const override {
    return mode_ == InceptionPreprocess::pytorch_fid ? "inception (pytorch-fid)" : "inception (ADM/TF)";
  }

 private:
  InceptionFid net_;
  InceptionPreprocess mode_;
  int64_t dims_;
  torch::Device device_;
};

class Dinov2Extractor : public FeatureExtractor {
 public:
  Dinov2Extractor(const std::string& weights, const torch::Device& device)
      : net_(load_dinov2(weights, device)), device_(device) {}
  FeatureBatch extract(const torch::Tensor& images_u8) override {
    torch::NoGradGuard no_grad;
    return {net_->extract(images_u8.to(device_)), {}, {}};
  }
  std::string name() const override { return "dinov2"; }

 private:
  Dinov2 net_;
  torch::Device device_;
};

class FmnistExtractor : public FeatureExtractor {
 public:
  FmnistExtractor(const std::string& weights, const torch::Device& device)
      : net_(load_or_train_fmnist_classifier(weights, device)), device_(device) {}
  FeatureBatch extract(const torch::Tensor& images_u8) override {
    torch::NoGradGuard no_grad;
    const auto out = net_->extract(images_u8.to(device_));
    return {out.features, out.logits, {}};
  }
  std::string name() const override { return "fmnist classifier"; }

 private:
  FmnistClassifier net_;
  torch::Device device_;
};

class FmnistResnetExtractor : public FeatureExtractor {
 public:
  FmnistResnetExtractor(const std::string& weights, const torch::Device& device)
      : net_(load_or_train_fmnist_resnet(weights, device)), device_(device) {}
  FeatureBatch extract(const torch::Tensor& images_u8) override {
    torch::NoGradGuard no_grad;
    const auto out = net_->extract(images_u8.to(device_));
    return {out.features, out.logits, {}};
  }
  std::string name() const override { return "fmnist resnet"; }

 private:
  FmnistResnet net_;
  torch::Device device_;
};

std::string cached(const std::string& file) { return (std::filesystem::path(default_cache_dir()) / file).string(); }
}  // namespace

std::string default_cache_dir() {
  if (const char* env = std::getenv("FLUXION_CACHE"); env && *env) return env;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg)
    return (std::filesystem::path(xdg) / "fluxion").string();
  if (const char* home = std::getenv("HOME"); home && *home)
    return (std::filesystem::path(home) / ".cache" / "fluxion").string();
  return ".fluxion-cache";
}

FeatureSpec parse_feature_spec(const std::string& text) {
  FeatureSpec spec;
  spec.text = text;
  const auto colon = text.find(':');
  const std::string kind = text.substr(0, colon);
  spec.weights = colon == std::string::npos ? "" : text.substr(colon + 1);
  std::string default_file;
  if (kind == "inception") {
    spec.kind = FeatureKind::inception;
    default_file = "pt_inception-2015-12-05.safetensors";
  } else if (kind == "inception-adm") {
    spec.kind = FeatureKind::inception_adm;
    default_file = "pt_inception-2015-12-05.safetensors";
  } else if (kind == "dinov2") {
    spec.kind = FeatureKind::dinov2;
    default_file = "dinov2_vitl14.safetensors";
  } else if (kind == "fmnist") {
    spec.kind = FeatureKind::fmnist;
    default_file = "fmnist_classifier.safetensors";
  } else if (kind == "fmnist-resnet") {
    spec.kind = FeatureKind::fmnist_resnet;
    default_file = "fmnist_resnet.safetensors";
  } else {
    fail("--features: unknown extractor '", kind,
         "' (inception, inception-adm, dinov2, fmnist, fmnist-resnet, each optionally :WEIGHTS)");
  }
  const bool given = !spec.weights.empty();
  if (!given) spec.weights = cached(default_file);
  // A classifier trained earlier on this machine wins; otherwise the shipped one, not a new one.
  // An fmnist WEIGHTS file that does not exist is where one is trained and cached
  // (tools/make_fmnist_classifier.sh).
  const bool fmnist = spec.kind == FeatureKind::fmnist || spec.kind == FeatureKind::fmnist_resnet;
  if (!given && fmnist && !std::filesystem::exists(spec.weights)) {
    const auto shipped = spec.kind == FeatureKind::fmnist ? shipped_fmnist_classifier() : shipped_fmnist_resnet();
    if (!shipped.empty()) spec.weights = shipped;
  }
  return spec;
}

std::unique_ptr<FeatureExtractor> make_feature_extractor(const FeatureSpec& spec, const torch::Device& device) {
  const bool inception = spec.kind == FeatureKind::inception || spec.kind == FeatureKind::inception_adm;
  FLUXION_CHECK(spec.dims == 2048 || (inception && (spec.dims == 64 || spec.dims == 192 || spec.dims == 768)),
                "--dims ", spec.dims, ": Inception features have 64, 192, 768 or 2048 dimensions",
                inception ? "" : std::string(", and only Inception has more than one: ") + spec.text);
  std::string weights = spec.weights;
  if (spec.kind != FeatureKind::fmnist && spec.kind != FeatureKind::fmnist_resnet) {
    // The default file in the cache is fetched on first use; a path given as NAME:FILE is not.
    const auto* pinned = find_pinned_weights(std::filesystem::path(weights).filename().string());
    if (pinned && weights == cached(pinned->cached_file) && !std::filesystem::exists(weights))
      weights = fetch_pinned_weights(*pinned, default_cache_dir());
    FLUXION_CHECK(std::filesystem::exists(weights), "--features ", spec.text, ": weights file ", weights,
                  " does not exist",
                  spec.kind == FeatureKind::dinov2
                      ? " (save a DINOv2 state dict, transformers or official names, as safetensors)"
                      : " (convert pt_inception-2015-12-05-6726825d.pth with fluxion convert --inception)");
  }
  switch (spec.kind) {
    case FeatureKind::inception:
      return std::make_unique<InceptionExtractor>(weights, InceptionPreprocess::pytorch_fid, spec.dims, device);
    case FeatureKind::inception_adm:
      return std::make_unique<InceptionExtractor>(weights, InceptionPreprocess::tf_adm, spec.dims, device);
    case FeatureKind::dinov2: return std::make_unique<Dinov2Extractor>(weights, device);
    case FeatureKind::fmnist: return std::make_unique<FmnistExtractor>(weights, device);
    case FeatureKind::fmnist_resnet: return std::make_unique<FmnistResnetExtractor>(weights, device);
  }
  fail("--features: unhandled extractor");
}

namespace {
// Rank 0's statistics, features and logits from every rank's features of contiguous runs of the
// same batches: the batches are folded in one process's order, on `device`, so the result is
// the single process's to the bit.
void gather_extracted(const ExtractOptions& options, const torch::Device& device, int64_t total,
                      std::vector<torch::Tensor>& features, std::vector<torch::Tensor>& spatial,
                      std::vector<torch::Tensor>& logits, ExtractedSet& out) {
  auto* ranks = options.ranks;
  auto all_features = ranks->gather_rows(torch::cat(features), "features (gathering)");
  torch::Tensor all_spatial, all_logits;
  if (!spatial.empty()) all_spatial = ranks->gather_rows(torch::cat(spatial), "sFID features (gathering)");
  if (!logits.empty()) all_logits = ranks->gather_rows(torch::cat(logits), "logits (gathering)");
  if (!core::is_root(ranks)) return;
  FLUXION_CHECK(all_features.size(0) == total, "features: gathered ", all_features.size(0),
                " rows from the ranks, expected ", total);
  for (int64_t begin = 0; begin < total; begin += options.batch_size) {
    out.stats.update(all_features.slice(0, begin, begin + options.batch_size).to(device));
    if (all_spatial.defined())
      out.spatial_stats.update(all_spatial.slice(0, begin, begin + options.batch_size).to(device));
  }
  if (options.keep_features) out.features = all_features.to(torch::kFloat);
  if (options.keep_logits && all_logits.defined()) out.logits = all_logits.to(torch::kFloat);
  out.count = total;
}
}  // namespace

ExtractedSet extract_dataset(const core::Dataset& data, FeatureExtractor& extractor, const torch::Device& device,
                             const ExtractOptions& options) {
  const int64_t total = options.limit > 0 ? std::min(options.limit, data.size()) : data.size();
  FLUXION_CHECK(total > 0, "features: ", data.describe(), " holds no images");
  FLUXION_CHECK(options.batch_size > 0, "features: batch size must be positive, got ", options.batch_size);
  // Ranks share the work when each gets a batch; fewer batches than ranks: rank 0 does them all.
  const int64_t batches = (total + options.batch_size - 1) / options.batch_size;
  const bool sharded = options.ranks != nullptr && batches >= options.ranks->world_size();
  FLUXION_CHECK(!sharded || !options.on_images, "features: a per-image callback cannot be split over ranks");
  ExtractedSet out;
  if (options.ranks != nullptr && !sharded && !core::is_root(options.ranks)) return out;
  const auto [first, last] = core::rank_rows(total, options.batch_size, sharded ? options.ranks : nullptr);
  auto decode = [&data, &options, last](int64_t begin) {
    std::vector<int64_t> indices(static_cast<size_t>(std::min(options.batch_size, last - begin)));
    std::iota(indices.begin(), indices.end(), begin);
    return core::load_images(data, indices, options.threads);
  };
  // The sharded path keeps every batch's outputs (features in their own dtype) for rank 0.
  std::vector<torch::Tensor> features, spatial, logits;
  std::unique_ptr<core::Progress> progress;
  if (options.progress) progress = std::make_unique<core::Progress>(extractor.name(), last - first, "img");
  auto pending = std::async(std::launch::async, decode, first);
  for (int64_t begin = first; begin < last; begin += options.batch_size) {
    auto images = pending.get();
    const int64_t next = begin + options.batch_size;
    if (next < last) pending = std::async(std::launch::async, decode, next);
    if (options.on_images) options.on_images(images);
    auto batch = extractor.extract(images.to(device));
    if (sharded) {
      features.push_back(batch.features.cpu());
      if (batch.spatial.defined()) spatial.push_back(batch.spatial.cpu());
      if (batch.logits.defined()) logits.push_back(batch.logits.cpu());
    } else {
      out.stats.update(batch.features);
      if (batch.spatial.defined()) out.spatial_stats.update(batch.spatial);
      if (options.keep_features) features.push_back(batch.features.to(torch::kCPU, torch::kFloat));
      if (options.keep_logits && batch.logits.defined()) logits.push_back(batch.logits.to(torch::kCPU, torch::kFloat));
      out.count += images.size(0);
    }
    if (progress) progress->update(images.size(0));
  }
  if (progress) progress->finish();
  if (sharded) {
    gather_extracted(options, device, total, features, spatial, logits, out);
    return out;
  }
  if (!features.empty()) out.features = torch::cat(features);
  if (!logits.empty()) out.logits = torch::cat(logits);
  return out;
}

}  // namespace fluxion::metrics
