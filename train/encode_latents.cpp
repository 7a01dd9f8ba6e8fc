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
  FLUXION_CHECK(c.batch > 0 && c.shard_size > 0 && c.image_size > 0,
                "encode: batch, shard size and image size must be positive");
  const bool single_file = ends_with(c.output, ".npz");
  const bool root = core::is_root(c.ranks);
  const auto device = core::resolve_device(c.device);
  const auto precision = core::resolve_precision(c.precision, device);
  auto vae = models::load_vae(c.vae, c.vae_config, device);
  const auto factor = vae->config().downsampling_factor();
  FLUXION_CHECK(c.image_size % factor == 0, "encode: image size ", c.image_size, " is not a multiple of the VAE's ",
                factor, "x downsampling");
  const int64_t moment_channels = 2 * vae->config().latent_channels, latent_size = c.image_size / factor;

  auto images = open_images(c);
  const int64_t count = c.limit > 0 ? std::min(c.limit, images->size()) : images->size();
  const int64_t copies = c.flip ? 2 : 1;
  const int64_t shard_size = single_file ? count : c.shard_size;
  const int64_t shards = (count + shard_size - 1) / shard_size;
  if (!single_file && root) {
    fs::create_directories(c.output);
    auto meta = models::vae_config_to_json(vae->config());
    core::write_file_atomically((fs::path(c.output) / "vae.json").string(),
                                [&](std::ostream& out) { out << meta << "\n"; });
  }
  // Shards finished by an earlier run, as rank 0 sees its folder.
  auto kept = torch::zeros({shards}, torch::kLong);
  if (root && !single_file)
    for (int64_t shard = 0; shard < shards; ++shard) kept[shard] = fs::exists(shard_path(c.output, shard)) ? 1 : 0;
  if (c.ranks) c.ranks->share_from_root(kept, "encode (finished shards)");

  // The images of shard `shard` this rank encodes: a contiguous run of the shard's batches.
  auto my_range = [&](int64_t shard) {
    const int64_t begin = shard * shard_size, end = std::min(count, begin + shard_size);
    const auto rows = core::rank_rows(end - begin, c.batch, c.ranks);
    return std::make_pair(begin + rows.begin, begin + rows.end);
  };
  int64_t my_images = 0;
  for (int64_t shard = 0; shard < shards; ++shard) {
    const auto [first, last] = my_range(shard);
    if (kept[shard].item<int64_t>() == 0) my_images += (last - first) * copies;
  }

  EncodeResult result;
  result.shards = shards;
  core::Progress progress("encode", my_images, "img");
  const auto start = std::chrono::steady_clock::now();
  torch::NoGradGuard no_grad;
  for (int64_t shard = 0; shard < shards; ++shard) {
    const int64_t begin = shard * shard_size, end = std::min(count, begin + shard_size);
    const auto path = single_file ? c.output : shard_path(c.output, shard);
    if (kept[shard].item<int64_t>() != 0) {
      result.kept += (end - begin) * copies;
      continue;
    }
    const auto [mine_begin, mine_end] = my_range(shard);
    std::vector<torch::Tensor> moments{torch::empty({0, moment_channels, latent_size, latent_size})};
    std::vector<torch::Tensor> labels{torch::empty({0}, torch::kLong)}, flipped{torch::empty({0}, torch::kUInt8)};
    for (int64_t first = mine_begin; first < mine_end; first += c.batch) {
      std::vector<int64_t> indices(std::min(c.batch, mine_end - first));
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
    core::ArrayMap arrays{
        {"moments", torch::cat(moments)}, {"labels", torch::cat(labels)}, {"flipped", torch::cat(flipped)}};
    if (c.ranks) {
      for (auto& [name, array] : arrays) array = c.ranks->gather_rows(array, "encode (gathering " + name + ")");
    }
    result.encoded += (end - begin) * copies;
    if (!root) continue;
    // A single archive carries the VAE config itself (shards have vae.json beside them).
    if (single_file) arrays["vae_config"] = config_bytes(models::vae_config_to_json(vae->config()));
    core::save_npz(path, arrays);
  }
  progress.finish();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.images_per_second = seconds > 0 ? result.encoded / seconds : 0.0;
  return result;
}

}  // namespace fluxion::train
