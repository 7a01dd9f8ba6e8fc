#include "train/encode_latents.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <numeric>
#include <vector>

#include "core/atomic_file.h"
#include "core/compat.h"
#include "core/dataset.h"
#include "core/device.h"
#include "core/error.h"
#include "core/npz.h"
#include "core/progress.h"
#include "models/vae.h"

namespace fluxion::train {

namespace {
namespace fs = std::filesystem;

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// A text as a uint8 array, the one way an .npz holds a string.
torch::Tensor config_bytes(const std::string& text) {
  return torch::from_blob(const_cast<char*>(text.data()), {static_cast<int64_t>(text.size())}, torch::kUInt8).clone();
}

std::string shard_path(const std::string& dir, int64_t shard) {
  char name[32];
  std::snprintf(name, sizeof name, "moments-%06lld.npz", static_cast<long long>(shard));
  return (fs::path(dir) / name).string();
}

std::shared_ptr<core::Dataset> open_images(const EncodeConfig& c) {
  FLUXION_CHECK(c.crop == "adm" || c.crop == "resize", "encode: unknown crop '", c.crop, "' (adm | resize)");
  core::ImageTransform transform;
  transform.channels = 3;
  if (c.crop == "adm") {
    transform.adm_crop = static_cast<int>(c.image_size);
  } else {
    transform.resize = static_cast<int>(c.image_size);
    transform.center_crop = static_cast<int>(c.image_size);
  }
  return core::open_dataset(c.images, transform);
}
}  // namespace

EncodeResult encode_latents(const EncodeConfig& c) {
  FLUXION_CHECK(!c.vae.empty(), "encode: --vae WEIGHTS is required");
  FLUXION_CHECK(!c.output.empty(), "encode: -o OUTPUT (.npz or a folder) is required");
  FLUXION_CHECK(c.batch > 0 && c.shard_size > 0 && c.image_size > 0, "encode: batch, shard size and image size must be positive");
  const bool single_file = ends_with(c.output, ".npz");
  const auto device = core::resolve_device(c.device);
  const auto precision = core::resolve_precision(c.precision, device);
  auto vae = models::load_vae(c.vae, c.vae_config, device);
  const auto factor = vae->config().downsampling_factor();
  FLUXION_CHECK(c.image_size % factor == 0, "encode: image size ", c.image_size, " is not a multiple of the VAE's ",
                factor, "x downsampling");

  auto images = open_images(c);
  const int64_t count = c.limit > 0 ? std::min(c.limit, images->size()) : images->size();
  const int64_t copies = c.flip ? 2 : 1;
  const int64_t shard_size = single_file ? count : c.shard_size;
  const int64_t shards = (count + shard_size - 1) / shard_size;
  if (!single_file) {
    fs::create_directories(c.output);
    auto meta = models::vae_config_to_json(vae->config());
    core::write_file_atomically((fs::path(c.output) / "vae.json").string(), [&](std::ostream& out) { out << meta << "\n"; });
  }

  EncodeResult result;
  result.shards = shards;
  core::Progress progress("encode", count * copies, "img");
  const auto start = std::chrono::steady_clock::now();
  torch::NoGradGuard no_grad;
  for (int64_t shard = 0; shard < shards; ++shard) {
    const int64_t begin = shard * shard_size, end = std::min(count, begin + shard_size);
    const auto path = single_file ? c.output : shard_path(c.output, shard);
    if (!single_file && fs::exists(path)) {
      result.kept += (end - begin) * copies;
      progress.update((end - begin) * copies, "kept " + fs::path(path).filename().string());
      continue;
    }
    std::vector<torch::Tensor> moments, labels, flipped;
    for (int64_t first = begin; first < end; first += c.batch) {
      std::vector<int64_t> indices(std::min(c.batch, end - first));
      std::iota(indices.begin(), indices.end(), first);
      torch::Tensor batch_labels;
      auto pixels = core::load_images(*images, indices, c.threads, &batch_labels);  // uint8 (B, 3, S, S)
      auto x = pixels.to(device).to(torch::kFloat).div(127.5).sub(1.0);
      std::vector<torch::Tensor> views{x};
      if (c.flip) views.push_back(x.flip({3}));
      for (size_t v = 0; v < views.size(); ++v) {
        torch::Tensor mean, logvar;
        {
          compat::AutocastGuard autocast(device.type(), precision);
          auto posterior = vae->encode(views[v]);
          mean = posterior.mean;
          logvar = posterior.logvar;
        }
        // (B, L, h, w) x 2 -> (B, 2L, h, w): diffusers' moments layout
        moments.push_back(torch::cat({mean, logvar}, 1).to(torch::kCPU, torch::kFloat));
        labels.push_back(batch_labels.to(torch::kLong));
        flipped.push_back(torch::full({batch_labels.size(0)}, static_cast<int64_t>(v), torch::kUInt8));
        progress.update(batch_labels.size(0));
      }
    }
    core::ArrayMap arrays{{"moments", torch::cat(moments)}, {"labels", torch::cat(labels)}, {"flipped", torch::cat(flipped)}};
    // A single archive carries the VAE config itself (shards have vae.json beside them).
    if (single_file) arrays["vae_config"] = config_bytes(models::vae_config_to_json(vae->config()));
    core::save_npz(path, arrays);
    result.encoded += (end - begin) * copies;
  }
  progress.finish();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.images_per_second = seconds > 0 ? result.encoded / seconds : 0.0;
  return result;
}

}  // namespace fluxion::train
