// The SiT user's whole path at toy size (README, "Latent SiT checkpoints to an ImageNet FID"):
// an official-style checkpoint saved by torch.save is converted, sampled with SiT's SDE settings
// and CFG 1.5 on the first three channels, decoded by an SD-VAE-style AutoencoderKL, written as an
// ADM .npz, and evaluated against an ADM reference batch (arr_0 with stored mu/sigma) in the
// ADM Inception's feature space. Every network has fill-rule weights; nothing is downloaded.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>

#include "core/npz.h"
#include "core/safetensors.h"
#include "metrics/inception_fid.h"
#include "metrics/weight_fill.h"
#include "models/module_state.h"
#include "models/zoo.h"
#include "test_helpers.h"

using namespace fluxion;

namespace {
// A released SiT checkpoint is the bare EMA state dict: every tensor filled by a formula.
const char* kSaveReleased = R"PY(
import collections, sys, torch
d = sys.argv[1]
sd = collections.OrderedDict()
for i, line in enumerate(open(d + '/spec.txt')):
    name, n, *shape = line.split()
    sd[name] = (torch.sin(torch.arange(int(n), dtype=torch.float32) * 0.7 + i) * 0.05).reshape([int(s) for s in shape])
torch.save(sd, d + '/SiT-toy.pt')
)PY";

nlohmann::json read_json(const std::string& path) {
  nlohmann::json j;
  std::ifstream(path) >> j;
  return j;
}
}  // namespace

TEST_CASE("a converted latent SiT checkpoint samples through the VAE and evaluates against an ADM batch", "[e2e]") {
  const auto python = test::python_with("torch");
  if (python.empty()) test::skip_test("no python3 with torch (Debian: python3-torch)");
  const auto dir = test::scratch_dir("sit_recipe");

  // The toy "SiT-XL-2-256x256.pt": SiT-T/4's layout on 4 x 16 x 16 latents of 10 classes.
  models::ModelOverrides latent;
  latent.channels = 4;
  latent.image_size = 16;
  latent.num_classes = 10;
  test::write_bytes(dir + "/spec.txt",
                    test::shape_spec(models::build_model(models::zoo_config("SiT-T/4", latent))->state_dict()));
  test::write_bytes(dir + "/save.py", kSaveReleased);
  REQUIRE(std::system((python + " " + dir + "/save.py " + dir).c_str()) == 0);
  // The VAE (2x downsampling here, 8x for the SD-VAE) as diffusers' safetensors and config.json.
  test::write_tiny_vae(dir + "/diffusion_pytorch_model.safetensors", dir + "/config.json");
  // ADM's Inception (fill-rule weights)
  metrics::InceptionFid inception;
  metrics::fill_module(*inception, std::sqrt(2.0));
  core::save_safetensors(dir + "/inception.safetensors", models::module_state(*inception));
  const std::string features = " --features inception-adm:" + dir + "/inception.safetensors --device cpu --batch 8";

  auto r = test::run_fluxion("convert " + dir + "/SiT-toy.pt " + dir + "/SiT-toy.safetensors");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  r = test::run_fluxion("sample --ckpt " + dir +
                        "/SiT-toy.safetensors --model SiT-T/4 --image-size 16 --channels 4 "
                        "--num-classes 10 --vae " +
                        dir + "/diffusion_pytorch_model.safetensors --vae-config " + dir +
                        "/config.json --sampler euler-maruyama --steps 4 --diffusion sigma --last-step mean "
                        "--last-step-size 0.04 --cfg 1.5 --cfg-channels 3 --n 4 --batch 4 --device cpu --npz " +
                        dir + "/samples.npz");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(r.output.find("NFE") != std::string::npos);
  auto samples = core::load_npz(dir + "/samples.npz");
  REQUIRE(samples.at("arr_0").sizes() == torch::IntArrayRef({4, 32, 32, 3}));
  CHECK(torch::equal(samples.at("arr_1"), torch::arange(4, torch::kLong)));  // class-balanced

  // The reference batch: images and their statistics in one .npz, as VIRTUAL_imagenet256_labeled.
  torch::manual_seed(5);
  core::save_npz(dir + "/images.npz", {{"arr_0", torch::randint(0, 256, {6, 32, 32, 3}, torch::kUInt8)}});
  r = test::run_fluxion("stats --images " + dir + "/images.npz -o " + dir + "/stats.npz" + features);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  auto stats = core::load_npz(dir + "/stats.npz");
  core::save_npz(dir + "/VIRTUAL_toy.npz", {{"arr_0", core::load_npz(dir + "/images.npz").at("arr_0")},
                                            {"mu", stats.at("mu")},
                                            {"sigma", stats.at("sigma")}});
  r = test::run_fluxion("eval --samples " + dir + "/samples.npz --ref " + dir +
                        "/VIRTUAL_toy.npz --metrics fd,is --is-splits 2 --json " + dir + "/eval.json" + features);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const auto result = read_json(dir + "/eval.json");
  CHECK(result.at("n_samples") == 4);
  CHECK(std::isfinite(result.at("fd").get<double>()));
  CHECK(result.at("fd").get<double>() > 0);
  CHECK(std::isfinite(result.at("is_mean").get<double>()));
  // The batch's stored statistics are what the FD used: the statistics file alone gives the same.
  r = test::run_fluxion("eval --samples " + dir + "/samples.npz --ref " + dir + "/stats.npz --metrics fd --json " +
                        dir + "/eval_stats.json" + features);
  REQUIRE(r.exit_code == 0);
  CHECK(read_json(dir + "/eval_stats.json").at("fd").get<double>() ==
        Approx(result.at("fd").get<double>()).epsilon(1e-9));
}
