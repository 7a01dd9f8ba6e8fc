// Latent moments (train/latent_moments.h): reading `fluxion encode`'s archives and shards, and the
// posterior samples drawn from them.
#include <catch2/catch.hpp>

#include <filesystem>

#include "core/error.h"
#include "core/npz.h"
#include "models/vae_config.h"
#include "test_helpers.h"
#include "train/latent_moments.h"

using namespace fluxion;
namespace fs = std::filesystem;

namespace {
const std::string kConfig =
    R"({"block_out_channels": [32, 64], "latent_channels": 4, "scaling_factor": 0.5, "shift_factor": 0.25})";

torch::Tensor bytes_of(const std::string& text) {
  return torch::from_blob(const_cast<char*>(text.data()), {static_cast<int64_t>(text.size())}, torch::kUInt8).clone();
}

core::ArrayMap archive(int64_t n, int64_t first_label, bool with_config = true) {
  core::ArrayMap a{{"moments", torch::randn({n, 8, 3, 3})},
                   {"labels", torch::arange(first_label, first_label + n, torch::kLong)},
                   {"flipped", torch::zeros({n}, torch::kUInt8)}};
  if (with_config) a["vae_config"] = bytes_of(kConfig);
  return a;
}
}  // namespace

TEST_CASE("latent moments load from one archive and from shards in order", "[unit]") {
  const auto dir = test::scratch_dir("latent_moments");
  torch::manual_seed(0);
  auto single = archive(5, 0);
  core::save_npz(dir + "/one.npz", single);
  auto one = train::load_latent_moments(dir + "/one.npz");
  CHECK(torch::equal(one.moments, single.at("moments")));
  CHECK(one.num_classes == 5);
  CHECK(one.vae.scaling_factor == 0.5);
  CHECK(one.vae.shift_factor == 0.25);
  CHECK(one.latent_channels() == 4);
  CHECK(one.side() == 3);

  fs::create_directories(dir + "/shards");
  auto a = archive(4, 0, false), b = archive(2, 4, false);
  core::save_npz(dir + "/shards/moments-000001.npz", b);
  core::save_npz(dir + "/shards/moments-000000.npz", a);
  test::write_bytes(dir + "/shards/vae.json", kConfig);
  auto shards = train::load_latent_moments(dir + "/shards");
  CHECK(torch::equal(shards.moments, torch::cat({a.at("moments"), b.at("moments")})));
  CHECK(torch::equal(shards.labels, torch::arange(6, torch::kLong)));
  CHECK(shards.describe().find("6 x 4x3x3") != std::string::npos);

  // An archive without its config was written for the SD-VAE: scaling 0.18215
  core::save_npz(dir + "/plain.npz", archive(2, 0, false));
  CHECK(train::load_latent_moments(dir + "/plain.npz").vae.scaling_factor == Approx(0.18215));
}

TEST_CASE("bad latent files give one line naming the file", "[unit]") {
  const auto dir = test::scratch_dir("latent_moments_bad");
  auto expect_error = [](const std::string& path, const std::string& part) {
    try {
      train::load_latent_moments(path);
      FAIL("no error for " << path);
    } catch (const Error& e) {
      INFO(e.what());
      CHECK(std::string(e.what()).find(part) != std::string::npos);
      CHECK(std::string(e.what()).find('\n') == std::string::npos);
    }
  };
  expect_error(dir + "/missing.npz", "no such file");
  core::save_npz(dir + "/images.npz", {{"arr_0", torch::zeros({2, 8, 8, 3}, torch::kUInt8)}});
  expect_error(dir + "/images.npz", "not latents written by `fluxion encode`");
  auto a = archive(3, 0);
  a["labels"] = torch::zeros({2}, torch::kLong);
  core::save_npz(dir + "/labels.npz", a);
  expect_error(dir + "/labels.npz", "labels must be (3)");
  a = archive(3, 0);
  a["moments"] = torch::zeros({3, 6, 3, 3});
  core::save_npz(dir + "/channels.npz", a);
  expect_error(dir + "/channels.npz", "the VAE's 4 latent channels need 8");
  a = archive(3, 0);
  a["moments"] = torch::zeros({3, 8, 3, 3}, torch::kDouble);
  core::save_npz(dir + "/dtype.npz", a);
  expect_error(dir + "/dtype.npz", "must be float32");
  fs::create_directories(dir + "/noconfig");
  core::save_npz(dir + "/noconfig/moments-000000.npz", archive(2, 0, false));
  expect_error(dir + "/noconfig", "vae.json is missing");
  fs::create_directories(dir + "/empty");
  expect_error(dir + "/empty", "no moments-*.npz shards");
}

TEST_CASE("drawn latents follow the scaled posterior", "[unit]") {
  models::VaeConfig vae;
  vae.scaling_factor = 0.5;
  vae.shift_factor = 0.25;
  // One latent position with mean 2 and variance e^{-1} (std 0.6065), another with mean 0 and logvar -100
  // (clamped to -30 as diffusers does: std 3e-7).
  auto moments = torch::tensor({2.0f, 0.0f, -1.0f, -100.0f}).view({1, 4, 1, 1}).expand({200000, 4, 1, 1});
  auto eps = torch::randn({200000, 2, 1, 1}, torch::TensorOptions().dtype(torch::kFloat));
  auto z = train::draw_latents(moments, eps, vae);
  REQUIRE(z.sizes() == torch::IntArrayRef({200000, 2, 1, 1}));
  CHECK(z.select(1, 0).mean().item<double>() == Approx((2.0 - 0.25) * 0.5).margin(3e-3));
  CHECK(z.select(1, 0).std().item<double>() == Approx(std::exp(-0.5) * 0.5).epsilon(0.01));
  CHECK(z.select(1, 1).std().item<double>() == Approx(std::exp(-15.0) * 0.5).epsilon(0.01));
  CHECK(z.select(1, 1).mean().item<double>() == Approx((0.0 - 0.25) * 0.5).epsilon(1e-5));
}
