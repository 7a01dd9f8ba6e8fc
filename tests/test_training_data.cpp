// Training data (train/training_data.h): latents drawn per batch reproducibly, across resumes and
// ranks; and `fluxion train` on latents end to end (encode -> train -> resume -> sample --vae).
#include <catch2/catch.hpp>

#include <filesystem>

#include "core/error.h"
#include "core/image_io.h"
#include "core/npz.h"
#include "core/pil_resize.h"
#include "test_helpers.h"
#include "train/training_data.h"

using namespace fluxion;
namespace fs = std::filesystem;

namespace {
std::string write_latents(const std::string& dir, int64_t n) {
  torch::manual_seed(1);
  const auto path = dir + "/latents.npz";
  core::save_npz(path, {{"moments", torch::randn({n, 8, 4, 4})},
                        {"labels", torch::arange(n, torch::kLong).remainder(3)},
                        {"flipped", torch::zeros({n}, torch::kUInt8)}});
  return path;
}

train::TrainConfig latent_config(const std::string& path) {
  train::TrainConfig c;
  c.data = "latents:" + path;
  c.image_size = 32;  // the SD-VAE's 8x: 4x4 latents
  return c;
}
}  // namespace

TEST_CASE("latent batches are fresh posterior samples, the same after a resume and across ranks", "[unit]") {
  const auto dir = test::scratch_dir("training_data_latents");
  const auto config = latent_config(write_latents(dir, 10));
  auto data = train::open_training_data(config, 4, 7);
  CHECK(data->channels() == 4);
  CHECK(data->side() == 4);
  CHECK(data->num_classes() == 3);
  CHECK(data->images() == nullptr);
  REQUIRE(data->latent_vae() != nullptr);
  auto first = data->next();
  auto second = data->next();
  REQUIRE(first.x.sizes() == torch::IntArrayRef({4, 4, 4, 4}));
  CHECK(data->position() == 8);
  CHECK_FALSE(torch::allclose(first.x, second.x));

  // The same latent index sampled in two epochs gets different noise.
  auto later = train::open_training_data(config, 4, 7);
  later->set_position(4);
  auto again = later->next();
  CHECK(torch::equal(again.x, second.x));
  CHECK(torch::equal(again.labels, second.labels));

  // Two ranks' halves are the single process's batch.
  auto rank0 = train::open_training_data(config, 4, 7), rank1 = train::open_training_data(config, 4, 7);
  rank0->set_shard(0, 2);
  rank1->set_shard(1, 2);
  CHECK(torch::equal(torch::cat({rank0->next().x, rank1->next().x}), first.x));

  auto wrong = config;
  wrong.image_size = 16;
  CHECK_THROWS_WITH(
      train::open_training_data(wrong, 4, 7),
      Catch::Contains("--image-size 16 does not match the latents") && Catch::Contains("4x4, images of 32x32"));
}

TEST_CASE("train --crop adm takes ADM's centre crops of class folders", "[unit]") {
  const auto dir = test::scratch_dir("training_data_adm");
  torch::manual_seed(4);
  std::vector<torch::Tensor> pictures;
  for (int i = 0; i < 2; ++i) {
    fs::create_directories(dir + "/train/n0" + std::to_string(i));
    pictures.push_back(torch::randint(0, 256, {3, 70 + 9 * i, 41}, torch::kUInt8));
    core::write_png(dir + "/train/n0" + std::to_string(i) + "/a.png", pictures.back());
  }
  train::TrainConfig config;
  config.data = dir + "/train";
  config.crop = "adm";
  auto data = train::open_training_data(config, 2, 0);
  auto batch = data->next();
  for (int64_t row = 0; row < 2; ++row) {
    const auto label = batch.labels[row].item<int64_t>();
    auto expected = core::adm_center_crop(pictures[label], 32).to(torch::kFloat).div(127.5).sub(1.0);
    CHECK(test::max_abs_diff(batch.x[row], expected) < 1e-6);
  }
  config.crop = "square";
  CHECK_THROWS_WITH(config.validate(), Catch::Contains("--crop must be resize or adm"));
}

TEST_CASE("fluxion train on latents: grids decoded, exact resume, samples decoded", "[e2e][train]") {
  const auto dir = test::scratch_dir("train_latents_e2e");
  // A tiny 2x VAE (32 px images -> 4 x 16 x 16 latents) with fill-rule weights, and 6 images.
  test::write_tiny_vae(dir + "/vae.safetensors", dir + "/vae.json");
  torch::manual_seed(2);
  for (int i = 0; i < 6; ++i) {
    fs::create_directories(dir + "/images/c" + std::to_string(i % 2));
    core::write_png(dir + "/images/c" + std::to_string(i % 2) + "/" + std::to_string(i) + ".png",
                    torch::randint(0, 256, {3, 32, 32}, torch::kUInt8));
  }
  const std::string vae_args = " --vae " + dir + "/vae.safetensors --vae-config " + dir + "/vae.json";
  auto encoded = test::run_fluxion("encode --images " + dir + "/images -o " + dir +
                                   "/latents.npz --image-size 32 --device cpu" + vae_args);
  INFO(encoded.output);
  REQUIRE(encoded.exit_code == 0);

  const std::string common = "train --data latents:" + dir +
                             "/latents.npz --image-size 32 --model SiT-T/4 --batch 2 "
                             "--device cpu --grid-images 4 --grid-steps 2 --sample-every 3 --ckpt-every 3" +
                             vae_args;
  auto straight = test::run_fluxion(common + " --steps 6 --out " + dir + "/straight");
  INFO(straight.output);
  REQUIRE(straight.exit_code == 0);
  CHECK(straight.output.find("latents " + dir + "/latents.npz: 6 x 4x16x16") != std::string::npos);
  // the grid is decoded: 4 RGB images of 32 x 32 in a 2 x 2 grid
  auto grid = core::read_image(dir + "/straight/samples/step-0000006.png");
  CHECK(grid.size(0) == 3);
  CHECK(grid.size(1) >= 64);

  REQUIRE(test::run_fluxion(common + " --steps 3 --out " + dir + "/split").exit_code == 0);
  auto resumed = test::run_fluxion("train --resume --steps 6 --device cpu --out " + dir + "/split");
  INFO(resumed.output);
  REQUIRE(resumed.exit_code == 0);
  test::require_same_tensors(dir + "/straight/checkpoints/last.safetensors",
                             dir + "/split/checkpoints/last.safetensors");

  auto sampled = test::run_fluxion("sample --ckpt " + dir +
                                   "/straight/checkpoints/last.safetensors --n 2 --steps 2 "
                                   "--device cpu --npz " +
                                   dir + "/samples.npz" + vae_args);
  INFO(sampled.output);
  REQUIRE(sampled.exit_code == 0);
  CHECK(core::load_npz(dir + "/samples.npz").at("arr_0").sizes() == torch::IntArrayRef({2, 32, 32, 3}));

  // Grids of latent data need the decoder; images take no --vae.
  auto images_with_vae =
      test::run_fluxion("train --data " + dir + "/images --steps 1 --device cpu --out " + dir + "/bad" + vae_args);
  CHECK(images_with_vae.exit_code != 0);
  CHECK(images_with_vae.output.find("--vae decodes latent data's grids") != std::string::npos);
}
