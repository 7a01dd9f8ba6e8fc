#include <catch2/catch.hpp>

#include <cmath>

#include "core/error.h"
#include "core/npz.h"
#include "core/safetensors.h"
#include "metrics/stats_file.h"
#include "test_helpers.h"

using namespace fluxion;

TEST_CASE("stats files round-trip in pytorch-fid's npz layout", "[unit][stats_file]") {
  const auto dir = test::scratch_dir("stats_file");
  auto gen = at::detail::createCPUGenerator(1);
  const auto a = torch::randn({5, 3}, gen, torch::kDouble);
  metrics::GaussianStats s{torch::randn({3}, gen, torch::kDouble), torch::mm(a.t(), a), 5};
  metrics::save_stats_npz(dir + "/s.npz", s);
  const auto info = core::list_npz(dir + "/s.npz");
  REQUIRE(info.size() == 2);
  for (const auto& m : info) CHECK(m.descr == "<f8");
  const auto back = metrics::load_stats_npz(dir + "/s.npz");
  CHECK(torch::equal(back.mu, s.mu));
  CHECK(torch::equal(back.sigma, s.sigma));

  // an ADM reference batch: stored (not deflated) arrays, images and both statistics
  core::save_npz(dir + "/ref.npz",
                 {{"arr_0", torch::zeros({2, 4, 4, 3}, torch::kUInt8)},
                  {"mu", s.mu},
                  {"sigma", s.sigma},
                  {"mu_s", s.mu},
                  {"sigma_s", s.sigma}},
                 false);
  const auto ref = metrics::load_reference_batch(dir + "/ref.npz");
  CHECK(ref.has_images);
  REQUIRE(ref.pool);
  REQUIRE(ref.spatial);
  CHECK(torch::equal(ref.spatial->sigma, s.sigma));

  // wrong shapes and missing arrays are errors naming the file
  core::save_npz(dir + "/bad.npz", {{"mu", s.mu}, {"sigma", torch::zeros({2, 2}, torch::kDouble)}});
  CHECK_THROWS_WITH(metrics::load_stats_npz(dir + "/bad.npz"), Catch::Contains("bad.npz"));
  core::save_npz(dir + "/none.npz", {{"x", s.mu}});
  CHECK_THROWS_AS(metrics::load_stats_npz(dir + "/none.npz"), Error);
}

TEST_CASE("fluxion fid prints pytorch-fid's value for two stats files", "[e2e][frechet]") {
  const auto golden = test::golden_path("frechet_distance.safetensors");
  if (golden.empty()) {
    test::skip_test("../shared/golden/frechet_distance.safetensors absent");
  }
  const auto g = core::load_safetensors(golden);
  const auto dir = test::scratch_dir("cli_fid");
  metrics::save_stats_npz(dir + "/a.npz", {g.at("d64_n500.mu1"), g.at("d64_n500.sigma1"), 0});
  metrics::save_stats_npz(dir + "/b.npz", {g.at("d64_n500.mu2"), g.at("d64_n500.sigma2"), 0});
  const auto r = test::run_fluxion("fid " + dir + "/a.npz " + dir + "/b.npz");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const auto pos = r.output.find("FID: ");
  REQUIRE(pos != std::string::npos);
  const double value = std::stod(r.output.substr(pos + 5));
  CHECK(std::abs(value - g.at("d64_n500.fd").item<double>()) <= 1e-6 * g.at("d64_n500.fd").item<double>());
  const auto missing = test::run_fluxion("fid " + dir + "/a.npz " + dir + "/nope.npz");
  CHECK(missing.exit_code == 1);
  CHECK(missing.output.find("nope.npz") != std::string::npos);
}
