// End-to-end: `fluxion sample` on a checkpoint the CLI trained.
#include <catch2/catch.hpp>

#include <filesystem>

#include "core/image_io.h"
#include "core/npz.h"
#include "core/safetensors.h"
#include "metrics/weight_fill.h"
#include "models/module_state.h"
#include "models/vae.h"
#include "models/zoo.h"
#include "test_helpers.h"

using namespace fluxion;

namespace {
// A 3-step tiny run in its own folder (ctest runs test cases as parallel processes).
std::string tiny_checkpoint(const std::string& tag) {
  const auto run = test::scratch_dir("sample_tiny_run_" + tag);
  auto r = test::run_fluxion(
      "train --model SiT-T/4 --steps 3 --batch 8 --device cpu --grid-images 4 --grid-steps 1 --out " + run);
  REQUIRE(r.exit_code == 0);
  return run + "/checkpoints/last.safetensors";
}
}  // namespace

TEST_CASE("same seed gives a byte-identical npz, equal to the PNGs, and re-runs reuse images", "[e2e][sample]") {
  const auto dir = test::scratch_dir("sample_repro");
  const std::string base = "sample --ckpt " + tiny_checkpoint("repro") + " --n 12 --steps 3 --device cpu --seed 5 ";
  auto a = test::run_fluxion(base + "--batch 5 --out " + dir + "/a --npz " + dir + "/a.npz --grid " + dir + "/a.png");
  INFO(a.output);
  REQUIRE(a.exit_code == 0);
  CHECK(a.output.find("NFE") != std::string::npos);
  auto b = test::run_fluxion(base + "--batch 4 --npz " + dir + "/b.npz");
  REQUIRE(b.exit_code == 0);
  CHECK(test::read_bytes(dir + "/a.npz") == test::read_bytes(dir + "/b.npz"));  // batch-size independent

  auto arrays = core::load_npz(dir + "/a.npz");
  REQUIRE(arrays.at("arr_0").sizes() == torch::IntArrayRef({12, 32, 32, 3}));
  REQUIRE(arrays.at("arr_1").sizes() == torch::IntArrayRef({12}));
  CHECK(torch::equal(arrays.at("arr_1"), torch::arange(12, torch::kLong).remainder(10)));
  for (int64_t i = 0; i < 12; ++i) {
    char name[64];
    std::snprintf(name, sizeof(name), "/a/%06lld_%lld.png", (long long)i, (long long)(i % 10));
    auto png = core::read_image(dir + name);
    CHECK(torch::equal(png[0], arrays.at("arr_0")[i].select(2, 0)));
  }
  CHECK(std::filesystem::exists(dir + "/a.png"));
  // The images vary: none flat, no two alike (a broken sampler or seed handling gives copies).
  auto grey = arrays.at("arr_0").select(3, 0).to(torch::kDouble).reshape({12, -1});
  CHECK(grey.std(1).min().item<double>() > 10);
  for (int64_t i = 0; i < 12; ++i)
    for (int64_t j = 0; j < i; ++j) CHECK((grey[i] != grey[j]).to(torch::kDouble).mean().item<double>() > 0.1);
  // Another seed, other images.
  const std::string seed5 = "--seed 5 ";
  auto other = test::run_fluxion(std::string(base).replace(base.find(seed5), seed5.size(), "--seed 6 ") + "--npz " +
                                 dir + "/d.npz");
  REQUIRE(other.exit_code == 0);
  auto other_images = core::load_npz(dir + "/d.npz").at("arr_0");
  CHECK((other_images != arrays.at("arr_0")).to(torch::kDouble).mean().item<double>() > 0.5);

  auto again = test::run_fluxion(base + "--batch 5 --out " + dir + "/a --npz " + dir + "/c.npz");
  REQUIRE(again.exit_code == 0);
  CHECK(again.output.find("12 reused") != std::string::npos);
  CHECK(test::read_bytes(dir + "/a.npz") == test::read_bytes(dir + "/c.npz"));
}

TEST_CASE("fluxion sample refuses bad checkpoints and options with one line", "[e2e][sample]") {
  const auto dir = test::scratch_dir("sample_bad");
  const auto ckpt = tiny_checkpoint("bad");
  const auto bytes = test::read_bytes(ckpt);
  test::write_bytes(dir + "/cut.safetensors", bytes.substr(0, bytes.size() / 2));
  auto cut = test::run_fluxion("sample --ckpt " + dir + "/cut.safetensors --n 2 --grid " + dir + "/g.png");
  CHECK(cut.exit_code != 0);
  CHECK(cut.output.find("cut.safetensors") != std::string::npos);

  auto sampler = test::run_fluxion("sample --ckpt " + ckpt + " --sampler leapfrog --n 2 --grid " + dir + "/g.png");
  CHECK(sampler.exit_code != 0);
  CHECK(sampler.output.find("leapfrog") != std::string::npos);
  CHECK(sampler.output.find("heun") != std::string::npos);

  auto mismatch = test::run_fluxion("sample --ckpt " + ckpt + " --model SiT-S/2 --n 2 --grid " + dir + "/g.png");
  CHECK(mismatch.exit_code != 0);
  CHECK(mismatch.output.find("tiny_run") != std::string::npos);

  auto missing = test::run_fluxion("sample --ckpt " + dir + "/none.safetensors --n 2 --grid " + dir + "/g.png");
  CHECK(missing.exit_code != 0);
  CHECK(missing.output.find("none.safetensors") != std::string::npos);
}

TEST_CASE("fluxion sample --vae decodes latent samples to images", "[e2e]") {
  // a latent SiT (4 x 8 x 8) and a tiny fill-rule VAE with one 2x upsampling: 16 x 16 RGB images
  const auto dir = test::scratch_dir("sample_vae");
  models::ModelOverrides overrides;
  overrides.image_size = 8;
  overrides.channels = 4;
  auto model = models::build_model(models::zoo_config("SiT-T/2", overrides));
  core::save_safetensors(dir + "/latent_sit.safetensors", model->state_dict());
  test::write_tiny_vae(dir + "/vae.safetensors", dir + "/vae.json");
  const auto common = "sample --ckpt " + dir +
                      "/latent_sit.safetensors --model SiT-T/2 --image-size 8 --channels 4 "
                      "--n 4 --batch 2 --sampler euler --steps 2 --device cpu ";
  auto r = test::run_fluxion(common + "--vae " + dir + "/vae.safetensors --vae-config " + dir + "/vae.json --npz " +
                             dir + "/s.npz --out " + dir + "/png");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  auto arrays = core::load_npz(dir + "/s.npz");
  CHECK(arrays.at("arr_0").sizes() == torch::IntArrayRef({4, 16, 16, 3}));
  CHECK(core::read_image(dir + "/png/" + std::filesystem::directory_iterator(dir + "/png")->path().filename().string())
            .sizes() == torch::IntArrayRef({3, 16, 16}));
  // a re-run reuses the decoded images and writes the same archive
  auto again = test::run_fluxion(common + "--vae " + dir + "/vae.safetensors --vae-config " + dir + "/vae.json --npz " +
                                 dir + "/s2.npz --out " + dir + "/png");
  REQUIRE(again.exit_code == 0);
  CHECK(torch::equal(core::load_npz(dir + "/s2.npz").at("arr_0"), arrays.at("arr_0")));
  // a VAE whose latent width differs from the model's is refused in one line
  test::write_bytes(
      dir + "/vae8.json",
      R"({"block_out_channels": [32, 64], "layers_per_block": 1, "norm_num_groups": 8, "latent_channels": 8})");
  auto wrong = test::run_fluxion(common + "--vae " + dir + "/vae.safetensors --vae-config " + dir +
                                 "/vae8.json --npz " + dir + "/s3.npz");
  CHECK(wrong.exit_code != 0);
  CHECK(wrong.output.find("does not fit AutoencoderKL") != std::string::npos);
}
