#include "metrics/evaluate.h"

#include <algorithm>
#include <filesystem>
#include <iomanip>
#include <set>
#include <sstream>

#include "core/atomic_file.h"
#include "core/dataset.h"
#include "core/device.h"
#include "core/error.h"
#include "core/log.h"
#include "core/npz.h"
#include "metrics/features.h"
#include "metrics/power_spectrum.h"
#include "metrics/sample_metrics.h"
#include "metrics/stats_file.h"

namespace fluxion::metrics {

namespace {
bool is_npz(const std::string& path) { return path.size() > 4 && path.compare(path.size() - 4, 4, ".npz") == 0; }

bool is_inception(FeatureKind kind) { return kind == FeatureKind::inception || kind == FeatureKind::inception_adm; }

// What --ref provides: images, stored statistics, or both (ADM reference batch).
struct RefSource {
  bool images = false;
  ReferenceBatch stored;
};

RefSource inspect_ref(const std::string& ref) {
  RefSource out;
  if (!is_npz(ref)) {
    out.images = true;
    return out;
  }
  out.stored = load_reference_batch(ref);
  out.images = out.stored.has_images;
  FLUXION_CHECK(out.images || out.stored.pool, "--ref ", ref,
                ": an .npz needs 'arr_0' images or 'mu'/'sigma' statistics");
  return out;
}

}  // namespace

nlohmann::json compute_stats_file(const StatsConfig& config) {
  FLUXION_CHECK(!config.output.empty(), "stats: an output file (-o) is required");
  const auto spec = parse_feature_spec(config.features);
  const auto device = core::resolve_device(config.device);
  auto extractor = make_feature_extractor(spec, device);
  auto data = core::open_dataset(config.images);
  core::log_info(data->describe());
  ExtractOptions options;
  options.batch_size = config.batch_size;
  options.threads = config.threads;
  options.limit = config.limit;
  options.ranks = config.ranks;
  auto set = extract_dataset(*data, *extractor, device, options);
  if (!core::is_root(config.ranks)) return {};
  std::optional<GaussianStats> spatial;
  if (spec.kind == FeatureKind::inception_adm) spatial = set.spatial_stats.stats();
  save_stats_npz(config.output, set.stats.stats(), spatial);
  return {{"count", set.count}, {"dim", set.stats.dim()}, {"features", spec.text}, {"output", config.output}};
}

nlohmann::json run_evaluation(const EvalConfig& config) {
  static const std::set<std::string> known{"fd", "is", "kid", "pr", "sfid", "spectral"};
  std::set<std::string> wanted;
  for (const auto& m : config.metrics) {
    FLUXION_CHECK(known.count(m), "--metrics: unknown metric '", m, "' (fd, is, kid, pr, sfid, spectral)");
    wanted.insert(m);
  }
  const auto spec = parse_feature_spec(config.features);
  FLUXION_CHECK(!wanted.count("sfid") || is_inception(spec.kind),
                "--metrics sfid needs Inception features (inception or inception-adm), not ", spec.text);
  FLUXION_CHECK(!wanted.count("is") || spec.kind != FeatureKind::dinov2,
                "--metrics is needs a classifier (inception, inception-adm or fmnist), not ", spec.text);
  const auto ref = inspect_ref(config.ref);
  // A stats-only file is taken as made with these features; an ADM reference batch's stored
  // statistics are Inception statistics, so with other features its images are used instead.
  const bool trust_stored = is_inception(spec.kind) || !ref.images;
  const bool stored_pool = ref.stored.pool.has_value() && trust_stored;
  const bool stored_spatial = ref.stored.spatial.has_value() && trust_stored;
  const bool need_ref_features = wanted.count("kid") || wanted.count("pr") || (wanted.count("fd") && !stored_pool) ||
                                 (wanted.count("sfid") && !stored_spatial) || wanted.count("spectral");
  FLUXION_CHECK(!need_ref_features || ref.images, "--ref ", config.ref,
                " holds statistics only; kid, pr and spectral (and fd/sfid in this feature space) need "
                "reference images");

  const auto device = core::resolve_device(config.device);
  auto extractor = make_feature_extractor(spec, device);
  nlohmann::json result{
      {"samples", config.samples}, {"ref", config.ref}, {"features", spec.text}, {"device", device.str()}};

  ExtractOptions options;
  options.batch_size = config.batch_size;
  options.threads = config.threads;
  options.limit = config.limit;
  options.keep_features = wanted.count("kid") || wanted.count("pr");
  options.keep_logits = wanted.count("is") > 0;
  SpectrumAccumulator sample_spectrum, ref_spectrum;
  if (wanted.count("spectral")) options.on_images = [&](const torch::Tensor& x) { sample_spectrum.update(x); };

  auto sample_data = core::open_dataset(config.samples);
  core::log_info("samples: " + sample_data->describe());
  auto samples = extract_dataset(*sample_data, *extractor, device, options);
  result["n_samples"] = samples.count;

  ExtractedSet reference;
  if (need_ref_features) {
    auto ref_data = core::open_dataset(config.ref);
    core::log_info("reference: " + ref_data->describe());
    options.keep_logits = false;
    if (wanted.count("spectral")) options.on_images = [&](const torch::Tensor& x) { ref_spectrum.update(x); };
    reference = extract_dataset(*ref_data, *extractor, device, options);
    result["n_ref"] = reference.count;
  }

  if (wanted.count("fd")) {
    const auto ref_stats = stored_pool ? *ref.stored.pool : reference.stats.stats();
    result["fd"] = frechet_distance(ref_stats, samples.stats.stats());
    result["fd_reference"] = stored_pool ? "stored mu/sigma" : "reference images";
  }
  if (wanted.count("sfid")) {
    const auto ref_stats = stored_spatial ? *ref.stored.spatial : reference.spatial_stats.stats();
    result["sfid"] = frechet_distance(ref_stats, samples.spatial_stats.stats());
  }
  if (wanted.count("is")) {
    InceptionScoreOptions is_options;
    is_options.splits = std::min<int64_t>(config.is_splits, samples.count);
    is_options.permute_seed = config.is_shuffle ? config.seed : -1;
    const auto is = inception_score(samples.logits, is_options);
    result["is_mean"] = is.mean;
    result["is_std"] = is.std;
    result["is_splits"] = is_options.splits;
  }
  if (wanted.count("kid")) {
    KidOptions kid_options;
    kid_options.subsets = config.kid_subsets;
    kid_options.subset_size = config.kid_subset_size;
    kid_options.seed = static_cast<uint32_t>(config.seed);
    const auto kid = kernel_inception_distance(reference.features, samples.features, kid_options);
    result["kid_mean"] = kid.mean;
    result["kid_std"] = kid.std;
  }
  if (wanted.count("pr")) {
    PrecisionRecallOptions pr_options;
    pr_options.k = config.pr_k;
    const auto pr = precision_recall(reference.features.to(device), samples.features.to(device), pr_options);
    result["precision"] = pr.precision;
    result["recall"] = pr.recall;
  }
  if (wanted.count("spectral")) {
    const auto r = ref_spectrum.mean(), s = sample_spectrum.mean();
    result["spectral_distance"] = spectral_distance(r, s);
    std::string plot = config.spectrum_plot;
    if (plot.empty() && !config.json.empty())
      plot = (std::filesystem::path(config.json).replace_extension("").string()) + "_spectrum.png";
    if (!plot.empty()) {
      write_spectrum_plot(plot, r, s);
      result["spectrum_plot"] = plot;
    }
  }
  if (!config.json.empty()) {
    core::write_file_atomically(config.json, [&](std::ostream& out) { out << result.dump(2) << "\n"; });
  }
  return result;
}

std::string format_eval_table(const nlohmann::json& result) {
  static const std::vector<std::pair<std::string, std::string>> rows{{"fd", "FD"},
                                                                     {"sfid", "sFID"},
                                                                     {"is_mean", "IS"},
                                                                     {"is_std", "IS std"},
                                                                     {"kid_mean", "KID"},
                                                                     {"kid_std", "KID std"},
                                                                     {"precision", "precision"},
                                                                     {"recall", "recall"},
                                                                     {"spectral_distance", "spectral distance"}};
  std::ostringstream out;
  out << "features " << result.value("features", std::string()) << ", " << result.value("n_samples", 0) << " samples";
  if (result.contains("n_ref")) out << ", " << result["n_ref"].get<int64_t>() << " reference images";
  out << "\n";
  out << std::left << std::setw(20) << "metric"
      << "value\n";
  for (const auto& [key, label] : rows) {
    if (!result.contains(key)) continue;
    out << std::left << std::setw(20) << label << std::setprecision(8) << result[key].get<double>() << "\n";
  }
  return out.str();
}

}  // namespace fluxion::metrics
