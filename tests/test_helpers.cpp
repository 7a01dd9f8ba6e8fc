#include "test_helpers.h"

#include <catch2/catch.hpp>

#include <array>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <sys/wait.h>

#include "core/dataset_sources.h"
#include "core/error.h"
#include "core/safetensors.h"
#include "metrics/weight_fill.h"
#include "models/module_state.h"
#include "models/vae.h"

namespace fluxion::test {

namespace {
int skipped_tests = 0;
}  // namespace

void skip_test(const std::string& reason) {
  ++skipped_tests;
  std::cout << "SKIPPED: " << reason << std::endl;
  // Catch2 v2 ends a test case on TestFailureException and records nothing (a failed REQUIRE
  // throws it once the failure is reported); skipped_tests tells catch_main.cpp it did not pass.
  throw Catch::TestFailureException();
}

int skipped_test_count() { return skipped_tests; }

void require_fashion_mnist() {
  const auto dir = core::fashion_mnist_default_dir();
  for (const char* file : {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                           "t10k-labels-idx1-ubyte.gz"}) {
    if (!std::filesystem::exists(std::filesystem::path(dir) / file)) {
      skip_test("Fashion-MNIST not in " + dir +
                " (apt-get install dataset-fashion-mnist or set FLUXION_FASHION_MNIST_DIR)");
    }
  }
}

std::string scratch_dir(const std::string& name) {
  const auto dir = std::filesystem::path(FLUXION_TEST_TMP) / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

std::string golden_path(const std::string& file) {
  const auto path = std::filesystem::path(FLUXION_SHARED_DIR) / "golden" / file;
  return std::filesystem::exists(path) ? path.string() : std::string();
}

CommandResult run_fluxion(const std::string& args) {
  return run_shell(std::string("\"") + FLUXION_BINARY + "\" " + args);
}

CommandResult run_shell(const std::string& command_line) {
  CommandResult result;
  const std::string command = command_line + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return result;
  std::array<char, 4096> buffer{};
  size_t n;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) result.output.append(buffer.data(), n);
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

namespace {
// The message of the fluxion::Error that `action` throws, after checking it holds every fragment.
std::string error_message(const std::function<void()>& action, const std::vector<std::string>& fragments) {
  try {
    action();
  } catch (const Error& e) {
    const std::string what = e.what();
    INFO(what);
    for (const auto& fragment : fragments) CHECK(what.find(fragment) != std::string::npos);
    return what;
  }
  std::string expected;
  for (const auto& fragment : fragments) expected += " '" + fragment + "'";
  FAIL("no error thrown; expected one containing" << expected);
  return {};
}
}  // namespace

void expect_error(const std::function<void()>& action, const std::vector<std::string>& fragments) {
  error_message(action, fragments);
}

void expect_one_line_error(const std::function<void()>& action, const std::vector<std::string>& fragments) {
  const std::string what = error_message(action, fragments);
  INFO(what);
  CHECK(what.find('\n') == std::string::npos);
}

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>();
}

const std::string& python_with(const std::string& modules) {
  static std::map<std::string, std::string> found;  // probing costs a Python start-up or two
  const auto known = found.find(modules);
  if (known != found.end()) return known->second;
  std::string interpreter;
  for (const char* candidate : {"python3", "/usr/bin/python3"}) {
    const std::string probe = std::string(candidate) + " -c 'import " + modules + "' >/dev/null 2>&1";
    if (std::system(probe.c_str()) == 0) {
      interpreter = candidate;
      break;
    }
  }
  return found.emplace(modules, interpreter).first->second;
}

std::string shape_spec(const std::map<std::string, torch::Tensor>& tensors) {
  std::string spec;
  for (const auto& [name, tensor] : tensors) {
    spec += name + " " + std::to_string(tensor.numel());
    for (auto s : tensor.sizes()) spec += " " + std::to_string(s);
    spec += "\n";
  }
  return spec;
}

std::vector<nlohmann::json> read_metrics(const std::string& run) {
  std::vector<nlohmann::json> lines;
  std::ifstream in(run + "/metrics.jsonl");
  std::string line;
  while (std::getline(in, line)) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

void require_same_tensors(const std::string& a, const std::string& b) {
  auto ta = core::load_safetensors(a), tb = core::load_safetensors(b);
  REQUIRE(ta.size() == tb.size());
  for (const auto& [name, t] : ta) {
    INFO(name);
    REQUIRE(tb.count(name));
    CHECK(torch::equal(t, tb.at(name)));
  }
}

const char* const kTinyVaeConfig =
    R"({"block_out_channels": [32, 64], "layers_per_block": 1, "norm_num_groups": 8, "latent_channels": 4})";

void write_tiny_vae(const std::string& weights_path, const std::string& config_path) {
  models::AutoencoderKL vae(models::vae_config_from_json(kTinyVaeConfig));
  metrics::fill_module(*vae);
  core::save_safetensors(weights_path, models::module_state(*vae));
  write_bytes(config_path, kTinyVaeConfig);
}

}  // namespace fluxion::test
