#include "train/latent_moments.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/npz.h"

namespace fluxion::train {

namespace fs = std::filesystem;

namespace {
constexpr const char* kConfigMember = "vae_config";  // the VAE's config.json as uint8 bytes

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  FLUXION_CHECK(in.good(), path, ": cannot read the VAE config of the latents");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// One archive's moments and labels, checked against each other and against `expected` (the first
// shard's per-item shape, undefined for the first).
void read_archive(const std::string& path, std::vector<torch::Tensor>& moments, std::vector<torch::Tensor>& labels,
                  std::string* config_json) {
  std::vector<std::string> names{"moments", "labels"};
  bool has_config = false;
  for (const auto& member : core::list_npz(path)) has_config |= member.name == kConfigMember;
  if (has_config && config_json) names.push_back(kConfigMember);
  core::ArrayMap arrays;
  try {
    arrays = core::load_npz(path, names);
  } catch (const Error& e) {
    fail(path, ": not latents written by `fluxion encode` (", e.what(), ")");
  }
  const auto& m = arrays.at("moments");
  const auto& y = arrays.at("labels");
  FLUXION_CHECK(m.dim() == 4 && m.size(1) % 2 == 0 && m.size(1) > 0 && m.scalar_type() == torch::kFloat, path,
                ": moments must be float32 (N, 2L, h, w), got ", c10::toString(m.scalar_type()), " ", m.sizes());
  FLUXION_CHECK(y.dim() == 1 && y.size(0) == m.size(0), path, ": labels must be (", m.size(0), "), got ", y.sizes());
  if (!moments.empty())
    FLUXION_CHECK(m.sizes().slice(1) == moments.front().sizes().slice(1), path, ": moments of shape ", m.sizes(),
                  " differ from the first shard's ", moments.front().sizes());
  moments.push_back(m);
  labels.push_back(y.to(torch::kLong));
  if (has_config && config_json) {
    const auto& bytes = arrays.at(kConfigMember).contiguous();
    *config_json = std::string(reinterpret_cast<const char*>(bytes.data_ptr<uint8_t>()), bytes.numel());
  }
}
}  // namespace

std::string LatentMoments::describe() const {
  std::ostringstream s;
  s << "latents " << source << ": " << size() << " x " << latent_channels() << "x" << side() << "x" << side()
    << " (SD-VAE posteriors, scale " << vae.scaling_factor << ")";
  if (num_classes > 0) s << ", " << num_classes << " classes";
  return s.str();
}

LatentMoments load_latent_moments(const std::string& path) {
  LatentMoments result;
  result.source = path;
  std::vector<torch::Tensor> moments, labels;
  std::string config_json;
  if (fs::is_directory(path)) {
    std::vector<std::string> shards;
    for (const auto& entry : fs::directory_iterator(path)) {
      const auto name = entry.path().filename().string();
      if (name.rfind("moments-", 0) == 0 && entry.path().extension() == ".npz") shards.push_back(entry.path().string());
    }
    std::sort(shards.begin(), shards.end());
    FLUXION_CHECK(!shards.empty(), path, ": no moments-*.npz shards (write them with `fluxion encode -o ", path, "`)");
    const auto config_path = (fs::path(path) / "vae.json").string();
    FLUXION_CHECK(fs::is_regular_file(config_path), path,
                  ": vae.json is missing (the VAE config `fluxion encode` writes)");
    config_json = read_text(config_path);
    for (const auto& shard : shards) read_archive(shard, moments, labels, nullptr);
  } else {
    FLUXION_CHECK(fs::is_regular_file(path), "latents '", path, "': no such file or folder");
    read_archive(path, moments, labels, &config_json);
  }
  try {
    // Archives without the config were written for the SD-VAE (sd-vae-ft-ema/mse).
    result.vae = config_json.empty() ? models::vae_preset("sd-vae-ft-ema") : models::vae_config_from_json(config_json);
  } catch (const Error& e) {
    fail(path, ": bad VAE config (", e.what(), ")");
  }
  result.moments = moments.size() == 1 ? moments.front() : torch::cat(moments);
  result.labels = labels.size() == 1 ? labels.front() : torch::cat(labels);
  FLUXION_CHECK(result.moments.size(1) == 2 * result.vae.latent_channels, path, ": moments have ",
                result.moments.size(1), " channels, the VAE's ", result.vae.latent_channels, " latent channels need ",
                2 * result.vae.latent_channels);
  FLUXION_CHECK(result.size() > 0, path, ": no latents");
  FLUXION_CHECK(torch::isfinite(result.moments).all().item<bool>(), path, ": moments hold non-finite values");
  const int64_t max_label = result.labels.max().item<int64_t>();
  FLUXION_CHECK(result.labels.min().item<int64_t>() >= -1, path, ": labels below -1");
  result.num_classes = max_label >= 0 ? max_label + 1 : 0;
  return result;
}

torch::Tensor draw_latents(const torch::Tensor& moments, const torch::Tensor& eps, const models::VaeConfig& vae) {
  // (B, 2L, h, w) -> mean, logvar (B, L, h, w); diffusers clamps the log-variance to [-30, 20]
  auto parts = moments.chunk(2, 1);
  const auto std = torch::exp(0.5 * parts[1].clamp(-30.0, 20.0));
  return (parts[0] + std * eps - vae.shift_factor) * vae.scaling_factor;
}

}  // namespace fluxion::train
