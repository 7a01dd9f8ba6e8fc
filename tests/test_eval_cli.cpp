#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>

#include "core/npz.h"
#include "core/safetensors.h"
#include "metrics/fmnist_classifier.h"
#include "metrics/stats_file.h"
#include "test_helpers.h"

using namespace fluxion;

namespace {
// An ADM-layout sample batch: arr_0 uint8 (N, 28, 28, 1) of blurred random blobs.
void write_image_npz(const std::string& path, int64_t n, uint64_t seed, double brightness) {
  auto gen = at::detail::createCPUGenerator(seed);
  auto x = torch::rand({n, 1, 7, 7}, gen, torch::kFloat) * brightness;
  x = torch::upsample_bilinear2d(x, {28, 28}, false);
  const auto images = (x * 255.0f).clamp(0, 255).to(torch::kUInt8).permute({0, 2, 3, 1}).contiguous();
  core::save_npz(path, {{"arr_0", images}});
}

// An untrained classifier is enough to exercise the pipeline.
std::string write_classifier(const std::string& dir) {
  torch::manual_seed(0);
  metrics::FmnistClassifier model;
  core::TensorMap weights;
  for (const auto& item : model->named_parameters()) weights[item.key()] = item.value().detach();
  const auto path = dir + "/fmnist.safetensors";
  core::save_safetensors(path, weights);
  return path;
}
}  // namespace

TEST_CASE("fluxion stats, fid and eval agree on a small set", "[e2e][eval]") {
  const auto dir = test::scratch_dir("eval_cli");
  write_image_npz(dir + "/ref.npz", 64, 1, 1.0);
  write_image_npz(dir + "/samples.npz", 48, 2, 0.7);
  const auto weights = write_classifier(dir);
  const std::string features = " --features fmnist:" + weights + " --device cpu --batch 20";

  auto r = test::run_fluxion("stats --images " + dir + "/ref.npz -o " + dir + "/ref_stats.npz" + features);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  r = test::run_fluxion("stats --images " + dir + "/samples.npz -o " + dir + "/s_stats.npz" + features);
  REQUIRE(r.exit_code == 0);
  CHECK(metrics::load_stats_npz(dir + "/s_stats.npz").mu.size(0) == 128);

  r = test::run_fluxion("eval --samples " + dir + "/samples.npz --ref " + dir + "/ref.npz" + features +
                        " --metrics fd,is,kid,pr,spectral --kid-subset-size 30 --kid-subsets 5 --json " + dir +
                        "/out.json");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  nlohmann::json result;
  std::ifstream(dir + "/out.json") >> result;
  for (const auto* key : {"fd", "is_mean", "kid_mean", "precision", "recall", "spectral_distance"})
    CHECK(result.contains(key));
  CHECK(result["n_samples"] == 48);
  CHECK(result["n_ref"] == 64);
  CHECK(result["fd"].get<double>() > 0);
  CHECK(std::ifstream(dir + "/out_spectrum.png").good());

  // the same FD from the two stats files, and from a stats-file reference
  r = test::run_fluxion("fid " + dir + "/ref_stats.npz " + dir + "/s_stats.npz");
  REQUIRE(r.exit_code == 0);
  const double fid = std::stod(r.output.substr(r.output.find("FID: ") + 5));
  CHECK(fid == Approx(result["fd"].get<double>()).epsilon(1e-9));
  r = test::run_fluxion("eval --samples " + dir + "/samples.npz --ref " + dir + "/ref_stats.npz" + features +
                        " --json " + dir + "/out2.json");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(r.output.find("FD") != std::string::npos);

  // Against itself: FD and the spectral distance vanish, and every sample lies inside the
  // reference's k-NN balls and vice versa, so precision = recall = 1.
  r = test::run_fluxion("eval --samples " + dir + "/ref.npz --ref " + dir + "/ref.npz" + features +
                        " --metrics fd,pr,spectral --json " + dir + "/self.json");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  nlohmann::json self;
  std::ifstream(dir + "/self.json") >> self;
  CHECK(std::abs(self["fd"].get<double>()) < 1e-6 * result["fd"].get<double>());
  CHECK(self["precision"].get<double>() == 1.0);
  CHECK(self["recall"].get<double>() == 1.0);
  CHECK(self["spectral_distance"].get<double>() == Approx(0.0).margin(1e-12));

  // One image repeated: every p(y | x) is the marginal p(y), so IS = exp(E KL(p(y|x) || p(y))) = 1.
  const auto one = core::load_npz(dir + "/samples.npz").at("arr_0").narrow(0, 0, 1).expand({20, 28, 28, 1});
  core::save_npz(dir + "/same.npz", {{"arr_0", one.contiguous()}});
  r = test::run_fluxion("eval --samples " + dir + "/same.npz --ref " + dir + "/ref.npz" + features +
                        " --metrics is --json " + dir + "/same.json");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  nlohmann::json same;
  std::ifstream(dir + "/same.json") >> same;
  CHECK(same["is_mean"].get<double>() == Approx(1.0).epsilon(1e-6));

  // a stats-only reference cannot give KID
  r = test::run_fluxion("eval --samples " + dir + "/samples.npz --ref " + dir + "/ref_stats.npz" + features +
                        " --metrics kid");
  CHECK(r.exit_code == 1);
  CHECK(r.output.find("reference images") != std::string::npos);
}
