// Seeds for every fuzz target (see seeds.h): one or a few small valid files each.
#include <filesystem>
#include <fstream>

#include "core/image_io.h"
#include "core/npy.h"
#include "core/npz.h"
#include "core/safetensors.h"
#include "metrics/stats_file.h"
#include "models/vae_config.h"
#include "models/zoo.h"
#include "objectives/checkpoint.h"
#include "train/train_config.h"

#include "fuzz/seeds.h"

namespace fluxion::fuzz {

namespace fs = std::filesystem;

namespace {
void write(const fs::path& path, const std::string& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
}
std::string be32(uint32_t v) {
  return std::string{static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
                     static_cast<char>(v)};
}
}  // namespace

void write_seeds(const std::string& out_dir) {
  const fs::path out = out_dir;
  torch::manual_seed(0);
  const auto small = torch::randn({2, 3});
  const auto image = torch::randint(0, 256, {3, 5, 4}, torch::kUInt8);

  core::save_safetensors((out / "fuzz_safetensors" / "a.safetensors").string(),
                         {{"w", small}, {"b", torch::arange(4, torch::kInt64)}, {"h", small.to(torch::kBFloat16)}},
                         {{"format", "pt"}});
  write(out / "fuzz_npy" / "f32.npy", core::serialize_npy(small));
  write(out / "fuzz_npy" / "u8.npy", core::serialize_npy(image));
  write(out / "fuzz_npy" / "scalar.npy", core::serialize_npy(torch::tensor(3.5, torch::kFloat64)));

  const auto npz_dir = out / "fuzz_npz";
  fs::create_directories(npz_dir);
  auto nhwc = image.permute({1, 2, 0}).unsqueeze(0).repeat({2, 1, 1, 1}).contiguous();
  core::save_npz((npz_dir / "adm.npz").string(), {{"arr_0", nhwc}, {"arr_1", torch::tensor({1, 2}, torch::kInt64)}});
  core::save_npz((npz_dir / "deflated.npz").string(), {{"arr_0", nhwc}}, /*compress=*/true);
  metrics::GaussianStats stats;
  stats.mu = torch::zeros({4}, torch::kFloat64);
  stats.sigma = torch::eye(4, torch::kFloat64);
  metrics::save_stats_npz((npz_dir / "stats.npz").string(), stats);

  // idx: magic, counts, then pixels (two 2x3 images)
  write(out / "fuzz_idx" / "images.idx",
        std::string("\0\0\x08\x03", 4) + be32(2) + be32(2) + be32(3) + std::string(12, '\x7f'));
  // CIFAR-10: two records of label + 3072 pixels
  write(out / "fuzz_cifar" / "two.bin",
        std::string(1, '\x03') + std::string(3072, '\x10') + std::string(1, '\x09') + std::string(3072, '\xf0'));

  core::write_png((out / "fuzz_image" / "rgb.png").string(), image);
  core::write_png((out / "fuzz_image" / "gray.png").string(), image.slice(0, 0, 1).contiguous());

  write(out / "fuzz_config" / "model.json", models::config_to_json(models::zoo_config("SiT-T/4")));
  write(out / "fuzz_config" / "train.json", train::to_json(train::TrainConfig{}).dump());
  write(out / "fuzz_config" / "vae.json", models::vae_config_to_json(models::VaeConfig{}));

  objectives::Checkpoint checkpoint;
  checkpoint.model = {{"w", small}};
  checkpoint.emas = {{{"w", small * 0.5}}};
  checkpoint.ema_decays = {0.999};
  checkpoint.optimizer = {{"step", torch::tensor(3, torch::kInt64)}};
  checkpoint.step = 3;
  checkpoint.model_config = models::config_to_json(models::zoo_config("SiT-T/4"));
  checkpoint.train_config = train::to_json(train::TrainConfig{}).dump();
  objectives::save_checkpoint((out / "fuzz_checkpoint" / "ckpt.safetensors").string(), checkpoint);

  // Checked in under fuzz/corpus/<target>/: the torch.save files (fluxion has no pickler; made by
  // torch 2.x with tests/test_convert.cpp's script, zip and legacy formats) and every past finding
  // (finding-*), so that each fuzzing run and the gcc replay start from them.
  const fs::path checked_in = fs::path(FLUXION_SOURCE_DIR) / "fuzz" / "corpus";
  for (const auto& target : fs::directory_iterator(checked_in)) {
    if (!target.is_directory()) continue;  // README.md
    fs::create_directories(out / target.path().filename());
    for (const auto& entry : fs::directory_iterator(target.path()))
      fs::copy_file(entry.path(), out / target.path().filename() / entry.path().filename(),
                    fs::copy_options::overwrite_existing);
  }
}

}  // namespace fluxion::fuzz
