// End-to-end: `fluxion fid PATH PATH` with pytorch-fid's semantics. The same images given as a
// folder of PNGs, as an ADM-layout .npz and as a statistics file written by --save-stats give the
// same number; --dims picks the Inception block; bad paths fail with one line.
#include <catch2/catch.hpp>

#include <filesystem>
#include <string>

#include "core/image_io.h"
#include "core/npz.h"
#include "core/safetensors.h"
#include "metrics/fmnist_classifier.h"
#include "metrics/inception_fid.h"
#include "metrics/stats_file.h"
#include "metrics/weight_fill.h"
#include "test_helpers.h"

using namespace fluxion;

namespace {
// uint8 (N, 28, 28, 1) blurred random blobs
torch::Tensor blobs(int64_t n, uint64_t seed, double brightness) {
  auto gen = at::detail::createCPUGenerator(seed);
  auto x = torch::rand({n, 1, 7, 7}, gen, torch::kFloat) * brightness;
  x = torch::upsample_bilinear2d(x, {28, 28}, false);
  return (x * 255.0f).clamp(0, 255).to(torch::kUInt8).permute({0, 2, 3, 1}).contiguous();
}

void write_folder(const std::string& dir, const torch::Tensor& images_nhwc) {
  std::filesystem::create_directories(dir);
  for (int64_t i = 0; i < images_nhwc.size(0); ++i)
    core::write_png(dir + "/" + std::to_string(1000 + i) + ".png", images_nhwc[i].permute({2, 0, 1}).contiguous());
}

template <typename Module>
std::string save_module(Module& module, const std::string& path) {
  core::TensorMap weights;
  for (const auto& item : module->named_parameters()) weights[item.key()] = item.value().detach();
  for (const auto& item : module->named_buffers()) weights[item.key()] = item.value().detach();
  core::save_safetensors(path, weights);
  return path;
}

double printed_fid(const test::CommandResult& r) {
  const auto at = r.output.find("FID:  ");  // pytorch-fid's print('FID: ', value)
  REQUIRE(at != std::string::npos);
  return std::stod(r.output.substr(at + 6));
}
}  // namespace

TEST_CASE("fluxion fid takes folders, image .npz and statistics files alike", "[e2e][eval]") {
  const auto dir = test::scratch_dir("fid_cli");
  const auto real = blobs(40, 1, 1.0), fake = blobs(30, 2, 0.6);
  write_folder(dir + "/real", real);
  write_folder(dir + "/fake", fake);
  core::save_npz(dir + "/fake.npz", {{"arr_0", fake}});
  torch::manual_seed(0);
  metrics::FmnistClassifier classifier;  // untrained: enough to compare pipelines
  const std::string options =
      " --device cpu --batch-size 16 --features fmnist:" + save_module(classifier, dir + "/fmnist.safetensors");

  auto folders = test::run_fluxion("fid " + dir + "/real " + dir + "/fake" + options);
  INFO(folders.output);
  REQUIRE(folders.exit_code == 0);
  const double fid = printed_fid(folders);
  CHECK(fid > 0.0);

  auto mixed = test::run_fluxion("fid " + dir + "/real " + dir + "/fake.npz" + options);
  REQUIRE(mixed.exit_code == 0);
  CHECK(printed_fid(mixed) == Approx(fid).epsilon(1e-12));

  auto saved = test::run_fluxion("fid --save-stats " + dir + "/real " + dir + "/real_stats.npz" + options);
  INFO(saved.output);
  REQUIRE(saved.exit_code == 0);
  const auto stats = metrics::load_stats_npz(dir + "/real_stats.npz");
  CHECK(stats.mu.size(0) == 128);
  auto from_stats = test::run_fluxion("fid " + dir + "/real_stats.npz " + dir + "/fake" + options);
  REQUIRE(from_stats.exit_code == 0);
  CHECK(printed_fid(from_stats) == Approx(fid).epsilon(1e-12));
  auto self = test::run_fluxion("fid " + dir + "/real_stats.npz " + dir + "/real" + options);
  REQUIRE(self.exit_code == 0);
  CHECK(std::abs(printed_fid(self)) < 1e-6);

  // pytorch-fid refuses to overwrite statistics; bad paths and --dims outside Inception fail
  auto again = test::run_fluxion("fid --save-stats " + dir + "/real " + dir + "/real_stats.npz" + options);
  CHECK(again.exit_code != 0);
  CHECK(again.output.find("already exists") != std::string::npos);
  auto missing = test::run_fluxion("fid " + dir + "/real " + dir + "/nowhere" + options);
  CHECK(missing.exit_code != 0);
  CHECK(missing.output.find("invalid path") != std::string::npos);
  auto dims = test::run_fluxion("fid " + dir + "/real " + dir + "/fake --dims 64" + options);
  CHECK(dims.exit_code != 0);
  CHECK(dims.output.find("--dims") != std::string::npos);
}

TEST_CASE("fluxion fid --dims selects pytorch-fid's Inception block", "[e2e][eval][inception]") {
  const auto dir = test::scratch_dir("fid_cli_dims");
  write_folder(dir + "/a", blobs(3, 3, 1.0));
  write_folder(dir + "/b", blobs(3, 4, 0.5));
  metrics::InceptionFid net;
  metrics::fill_module(*net, std::sqrt(2.0));  // the golden fill rule: a network with varied outputs
  const std::string options =
      " --device cpu --batch-size 3 --features inception:" + save_module(net, dir + "/inception.safetensors");
  for (const int dims : {64, 768}) {  // each run loads the 95 MB network: two of the four blocks
    INFO("dims " << dims);
    const auto stats = dir + "/a_" + std::to_string(dims) + ".npz";
    auto r = test::run_fluxion("fid --save-stats --dims " + std::to_string(dims) + " " + dir + "/a " + stats + options);
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CHECK(metrics::load_stats_npz(stats).mu.size(0) == dims);
  }
  auto r = test::run_fluxion("fid --dims 768 " + dir + "/a_768.npz " + dir + "/b" + options);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(printed_fid(r) > 0.0);
  // statistics are taken as they are; two of different dimensions are refused by name
  auto mismatch = test::run_fluxion("fid --dims 64 " + dir + "/a_768.npz " + dir + "/b" + options);
  CHECK(mismatch.exit_code != 0);
  CHECK(mismatch.output.find("different dimensions (768 and 64)") != std::string::npos);
}
