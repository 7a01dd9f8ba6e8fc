#include <catch2/catch.hpp>

#include <filesystem>
#include <sstream>

#include "core/inspect.h"
#include "core/npy.h"
#include "core/npz.h"
#include "core/safetensors.h"
#include "test_helpers.h"

using namespace fluxion;

namespace {
size_t line_count(const std::string& text) {
  size_t lines = 0;
  for (char c : text) lines += c == '\n';
  return lines + (!text.empty() && text.back() != '\n');
}
}  // namespace

TEST_CASE("inspect lists npz members and npy arrays from their headers", "[unit][inspect]") {
  const auto dir = test::scratch_dir("inspect_unit");
  core::save_npz(dir + "/a.npz",
                 {{"mu", torch::zeros({2048}, torch::kDouble)}, {"arr_0", torch::zeros({4, 8, 8, 3}, torch::kUInt8)}},
                 true);
  std::ostringstream out;
  core::inspect_file(dir + "/a.npz", out);
  const std::string text = out.str();
  INFO(text);
  CHECK(text.find("npz, 2 arrays") != std::string::npos);
  CHECK(text.find("mu") != std::string::npos);
  CHECK(text.find("<f8") != std::string::npos);
  CHECK(text.find("[2048]") != std::string::npos);
  CHECK(text.find("|u1") != std::string::npos);
  CHECK(text.find("[4, 8, 8, 3]") != std::string::npos);
  CHECK(text.find("deflated") != std::string::npos);
  CHECK(text.find(std::to_string(2048 * 8 + 4 * 8 * 8 * 3) + " bytes") != std::string::npos);

  core::save_npy(dir + "/b.npy", torch::zeros({3, 5}, torch::kInt));
  std::ostringstream npy;
  core::inspect_file(dir + "/b.npy", npy);
  CHECK(npy.str().find("<i4  [3, 5]") != std::string::npos);
  std::ostringstream ignored;
  CHECK_THROWS_WITH(core::inspect_file(dir + "/c.txt", ignored), Catch::Contains("unknown file type"));
}

TEST_CASE("fluxion inspect lists every tensor of every golden file", "[e2e][inspect]") {
  const auto readme = test::golden_path("README.md");
  if (readme.empty()) {
    test::skip_test("../shared/golden absent");
  }
  const auto folder = std::filesystem::path(readme).parent_path();
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(folder)) {
    const auto extension = entry.path().extension();
    if (extension != ".safetensors" && extension != ".npz" && extension != ".npy") continue;
    ++files;
    const std::string path = entry.path().string();
    const auto result = test::run_fluxion("inspect '" + path + "'");
    INFO(path << "\n" << result.output.substr(0, 2000));
    CHECK(result.exit_code == 0);
    std::vector<std::string> names;
    if (extension == ".safetensors")
      for (const auto& e : core::read_safetensors_header(path).entries) names.push_back(e.name);
    if (extension == ".npz")
      for (const auto& m : core::list_npz(path)) names.push_back(m.name);
    for (const auto& name : names) CHECK(result.output.find("  " + name + " ") != std::string::npos);
  }
  CHECK(files >= 1);
}

TEST_CASE("fluxion inspect lists npz and npy files and rejects truncated ones", "[e2e][inspect]") {
  const auto dir = test::scratch_dir("inspect_cli");
  core::save_npz(dir + "/stats.npz",
                 {{"mu", torch::zeros({64}, torch::kDouble)}, {"sigma", torch::eye(64, torch::kDouble)}});
  core::save_npy(dir + "/labels.npy", torch::arange(10));
  auto result = test::run_fluxion("inspect '" + dir + "/stats.npz'");
  INFO(result.output);
  CHECK(result.exit_code == 0);
  CHECK(result.output.find("mu") != std::string::npos);
  CHECK(result.output.find("sigma") != std::string::npos);
  CHECK(result.output.find("[64, 64]") != std::string::npos);
  CHECK(result.output.find("stored") != std::string::npos);
  result = test::run_fluxion("inspect '" + dir + "/labels.npy'");
  CHECK(result.exit_code == 0);
  CHECK(result.output.find("<i8  [10]") != std::string::npos);

  const std::string npz = test::read_bytes(dir + "/stats.npz");
  const std::string npy = test::read_bytes(dir + "/labels.npy");
  std::vector<std::pair<std::string, std::string>> cut = {{dir + "/cut.npz", npz.substr(0, npz.size() / 2)},
                                                          {dir + "/cut.npy", npy.substr(0, npy.size() - 8)}};
  for (const auto& [path, bytes] : cut) {
    test::write_bytes(path, bytes);
    result = test::run_fluxion("inspect '" + path + "'");
    INFO(result.output);
    CHECK(result.exit_code != 0);
    CHECK(result.output.find(path) != std::string::npos);
    CHECK(line_count(result.output) == 1);
  }
  result = test::run_fluxion("inspect '" + dir + "/absent.npz'");
  CHECK(result.exit_code != 0);
  CHECK(result.output.find("absent.npz") != std::string::npos);
}
