#include "train/training_eval.h"

#include <cctype>
#include <filesystem>

#include "core/dataset.h"
#include "core/error.h"
#include "core/image_io.h"
#include "core/log.h"
#include "core/sha256.h"
#include "metrics/stats_file.h"
#include "objectives/generate.h"

namespace fluxion::train {

namespace fs = std::filesystem;

namespace {
bool starts_with(const std::string& text, const std::string& prefix) { return text.rfind(prefix, 0) == 0; }

// The reference statistics: a statistics .npz as it is, else the features of a dataset spec,
// computed once and cached in the run folder under a name that holds the features and a digest of
// the spec (eval-ref-fmnist-0123456789ab.npz), so a resumed run reuses them.
metrics::GaussianStats reference_stats(const std::string& ref, const std::string& features,
                                       metrics::FeatureExtractor& extractor, const torch::Device& device,
                                       const std::string& run_dir) {
  if (fs::path(ref).extension() == ".npz" && fs::exists(ref)) {
    const auto stored = metrics::load_reference_batch(ref);
    if (stored.pool && !stored.has_images) return *stored.pool;
  }
  std::string name = features;
  for (auto& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '-';
  const auto cache = run_dir + "/eval-ref-" + name + "-" + core::sha256_hex(ref).substr(0, 12) + ".npz";
  if (fs::exists(cache)) return metrics::load_stats_npz(cache);
  auto data = core::open_dataset(ref);
  core::log_info("evaluation reference: " + data->describe() + ", " + features + " features");
  const auto set = metrics::extract_dataset(*data, extractor, device, metrics::ExtractOptions{});
  const auto stats = set.stats.stats();
  metrics::save_stats_npz(cache, stats);
  return stats;
}
}  // namespace

std::string resolve_eval_features(const TrainConfig& config) {
  if (config.eval_features != "auto") return config.eval_features;
  return starts_with(config.data, "fashion-mnist") ? "fmnist" : "inception";
}

TrainingEval::TrainingEval(RunSampler& sampler, const TrainConfig& config, int64_t num_classes,
                           const std::string& run_dir)
    : sampler_(sampler),
      samples_(config.eval_samples),
      num_classes_(num_classes),
      features_(resolve_eval_features(config)),
      device_(sampler.device()) {
  const std::string ref = config.eval_ref.empty() ? config.data : config.eval_ref;
  FLUXION_CHECK(!starts_with(ref, "latents:"),
                "--eval-every: the reference must be images; latent data needs "
                "--eval-ref (the image folder or a statistics .npz)");
  FLUXION_CHECK(sampler.can_sample(), "--eval-every: a latent run needs --vae to decode its samples");
  extractor_ = metrics::make_feature_extractor(metrics::parse_feature_spec(features_), device_);
  reference_ = reference_stats(ref, features_, *extractor_, device_, run_dir);
}

double TrainingEval::fd(const core::TensorMap& weights) {
  torch::NoGradGuard no_grad;
  sampler_.load(weights);
  const auto labels = objectives::balanced_labels(samples_, num_classes_);
  metrics::FeatureStats stats;
  for (int64_t first = 0; first < samples_; first += kBatch) {
    const int64_t count = std::min(kBatch, samples_ - first);
    const auto noise = objectives::sample_noise(kSeed, first, count, sampler_.channels(), sampler_.image_size());
    auto gen = objectives::sample_batch_generator(kSeed, first, device_);
    const auto images = sampler_.sample(noise, labels.slice(0, first, first + count), gen);
    // fluxion sample's quantisation (clamp(127.5 x + 128)), then the features of the uint8 images
    stats.update(extractor_->extract(core::to_uint8(images.to(torch::kFloat).cpu()).to(device_)).features);
  }
  return metrics::frechet_distance(stats.stats(), reference_);
}

}  // namespace fluxion::train
