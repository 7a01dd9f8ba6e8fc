// fluxion encode (train/encode_latents.h), end to end on a tiny fill-rule VAE.
#include <catch2/catch.hpp>

#include <filesystem>

#include "core/image_io.h"
#include "core/npz.h"
#include "core/pil_resize.h"
#include "core/safetensors.h"
#include "metrics/weight_fill.h"
#include "models/module_state.h"
#include "models/vae.h"
#include "test_helpers.h"

using namespace fluxion;
namespace fs = std::filesystem;

namespace {
struct Fixture {
  std::string dir, images, weights, config;
  std::vector<torch::Tensor> pictures;  // uint8 (3, H, W), in dataset order
};

// Two classes of odd-sized RGB images and a fill-rule VAE.
Fixture make_fixture(const std::string& name) {
  Fixture f;
  f.dir = test::scratch_dir(name);
  f.images = f.dir + "/train";
  torch::manual_seed(3);
  for (int i = 0; i < 5; ++i) {
    const auto cls = f.images + (i < 3 ? "/n01" : "/n02");
    fs::create_directories(cls);
    auto picture = torch::randint(0, 256, {3, 40 + i, 37}, torch::kUInt8);
    core::write_png(cls + "/img" + std::to_string(i) + ".png", picture);
    f.pictures.push_back(picture);
  }
  f.weights = f.dir + "/vae.safetensors";
  f.config = f.dir + "/config.json";
  test::write_tiny_vae(f.weights, f.config);
  return f;
}
}  // namespace

TEST_CASE("fluxion encode writes the posterior moments of ADM-cropped images", "[e2e]") {
  auto f = make_fixture("encode_npz");
  const auto out = f.dir + "/latents.npz";
  auto run = test::run_fluxion("encode --images " + f.images + " --vae " + f.weights + " --vae-config " + f.config +
                               " -o " + out + " --image-size 32 --flip --batch 2 --device cpu");
  INFO(run.output);
  REQUIRE(run.exit_code == 0);
  auto arrays = core::load_npz(out);
  const auto& moments = arrays.at("moments");
  REQUIRE(moments.sizes() == torch::IntArrayRef({10, 8, 16, 16}));
  // batches of 2: [img0, img1, flip0, flip1], [img2, img3, flip2, flip3], [img4, flip4]
  CHECK(torch::equal(arrays.at("labels"), torch::tensor({0, 0, 0, 0, 0, 1, 0, 1, 1, 1}, torch::kLong)));
  CHECK(torch::equal(arrays.at("flipped"), torch::tensor({0, 0, 1, 1, 0, 0, 1, 1, 0, 1}, torch::kUInt8)));

  models::AutoencoderKL vae(models::vae_config_from_json(test::kTinyVaeConfig));
  vae->load_state(core::load_safetensors(f.weights), f.weights);
  vae->eval();
  torch::NoGradGuard no_grad;
  auto x = core::adm_center_crop(f.pictures[1], 32).unsqueeze(0).to(torch::kFloat).div(127.5).sub(1.0);
  auto posterior = vae->encode(x);
  CHECK(test::max_abs_diff(moments[1], torch::cat({posterior.mean, posterior.logvar}, 1)[0]) < 1e-5);
  auto mirrored = vae->encode(x.flip({3}));
  CHECK(test::max_abs_diff(moments[3], torch::cat({mirrored.mean, mirrored.logvar}, 1)[0]) < 1e-5);
}

TEST_CASE("fluxion encode into a folder resumes at the first missing shard", "[e2e]") {
  auto f = make_fixture("encode_shards");
  const auto out = f.dir + "/latents";
  const auto command = "encode --images " + f.images + " --vae " + f.weights + " --vae-config " + f.config + " -o " +
                       out + " --image-size 32 --shard-size 2 --device cpu";
  auto first = test::run_fluxion(command);
  INFO(first.output);
  REQUIRE(first.exit_code == 0);
  for (int shard = 0; shard < 3; ++shard) CHECK(fs::exists(out + "/moments-00000" + std::to_string(shard) + ".npz"));
  CHECK(fs::exists(out + "/vae.json"));
  const auto middle = out + "/moments-000001.npz";
  const auto before = test::read_bytes(middle);
  fs::remove(middle);
  auto again = test::run_fluxion(command);
  INFO(again.output);
  REQUIRE(again.exit_code == 0);
  CHECK(again.output.find("encoded 2 images (3 kept") != std::string::npos);
  CHECK(test::read_bytes(middle) == before);
}

TEST_CASE("fluxion encode fails in one line on bad input", "[e2e]") {
  auto f = make_fixture("encode_errors");
  auto missing = test::run_fluxion("encode --images " + f.images + " --vae " + f.dir + "/none.safetensors -o " + f.dir +
                                   "/x.npz --device cpu");
  CHECK(missing.exit_code != 0);
  CHECK(missing.output.find("does not exist") != std::string::npos);
  // the SD-VAE preset does not fit the tiny weights
  auto wrong = test::run_fluxion("encode --images " + f.images + " --vae " + f.weights + " -o " + f.dir +
                                 "/x.npz --image-size 32 --device cpu");
  CHECK(wrong.exit_code != 0);
  CHECK(wrong.output.find("does not fit AutoencoderKL") != std::string::npos);
  auto odd = test::run_fluxion("encode --images " + f.images + " --vae " + f.weights + " --vae-config " + f.config +
                               " -o " + f.dir + "/x.npz --image-size 31 --device cpu");
  CHECK(odd.exit_code != 0);
  CHECK(odd.output.find("not a multiple") != std::string::npos);
}
