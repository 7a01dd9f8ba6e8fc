#include "metrics/fid_paths.h"

#include <filesystem>

#include "core/dataset.h"
#include "core/device.h"
#include "core/error.h"
#include "core/log.h"
#include "metrics/features.h"
#include "metrics/stats_file.h"

namespace fluxion::metrics {

namespace {
bool is_npz(const std::string& path) { return path.size() > 4 && path.compare(path.size() - 4, 4, ".npz") == 0; }

FeatureSpec feature_spec(const FidPathsConfig& config) {
  auto spec = parse_feature_spec(config.features);
  spec.dims = config.dims;
  return spec;
}

GaussianStats computed_stats(const std::string& path, const FidPathsConfig& config) {
  const auto device = core::resolve_device(config.device);
  const auto spec = feature_spec(config);
  auto extractor = make_feature_extractor(spec, device);
  auto data = core::open_dataset(path);
  core::log_info(data->describe());
  ExtractOptions options;
  options.batch_size = config.batch_size;
  options.threads = config.threads;
  return extract_dataset(*data, *extractor, device, options).stats.stats();
}
}  // namespace

GaussianStats stats_of_path(const std::string& path, const FidPathsConfig& config) {
  FLUXION_CHECK(std::filesystem::exists(path) || path.find(':') != std::string::npos, "invalid path: ", path);
  if (is_npz(path)) {
    // pytorch-fid takes any .npz as statistics; one with images and no statistics (an ADM sample
    // batch) is an image set here.
    const auto stored = load_reference_batch(path);
    if (stored.pool) return *stored.pool;
    FLUXION_CHECK(stored.has_images, path, ": an .npz needs 'mu'/'sigma' statistics or 'arr_0' images");
  }
  return computed_stats(path, config);
}

FrechetResult fid_of_paths(const FidPathsConfig& config) {
  const auto a = stats_of_path(config.paths[0], config);
  const auto b = stats_of_path(config.paths[1], config);
  FLUXION_CHECK(a.mu.size(0) == b.mu.size(0), "the statistics of ", config.paths[0], " and ", config.paths[1],
                " have different dimensions (", a.mu.size(0), " and ", b.mu.size(0),
                "): made with other features or --dims");
  return frechet_distance_detailed(a.mu, a.sigma, b.mu, b.sigma);
}

int64_t save_fid_stats(const FidPathsConfig& config) {
  const auto& [input, output] = config.paths;
  FLUXION_CHECK(!std::filesystem::exists(output), "stats file already exists: ", output);
  FLUXION_CHECK(is_npz(output), "--save-stats writes an .npz: ", output);
  FLUXION_CHECK(std::filesystem::exists(input) || input.find(':') != std::string::npos, "invalid path: ", input);
  const auto stats = computed_stats(input, config);
  save_stats_npz(output, stats);
  return stats.count;
}

}  // namespace fluxion::metrics
