#pragma once
// Shared helpers for fluxion's tests: skipping, scratch folders, golden-file paths, running the
// CLI, malformed input and the errors it must raise, finding a Python.
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace fluxion::test {

// Ends the running test case as skipped, for what the machine lacks (a GPU, ../shared, a Python
// module): prints "SKIPPED: <reason>", which tools/run_tests.sh collects, and makes the process
// exit with the status CTest reports as skipped (catch_main.cpp). Catch2 v2 has no SKIP macro.
[[noreturn]] void skip_test(const std::string& reason);

// How many test cases skip_test ended in this process (read by catch_main.cpp).
int skipped_test_count();

// Skips the running test case unless the real Fashion-MNIST files are where fashion-mnist:SPLIT
// reads them (FLUXION_FASHION_MNIST_DIR or Debian's dataset-fashion-mnist folder).
void require_fashion_mnist();

// A fresh, empty scratch folder under the build tree, unique per name.
std::string scratch_dir(const std::string& name);

// ../shared/golden/<file>, or "" when the shared folder is absent (golden tests then skip).
std::string golden_path(const std::string& file);

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// Runs `fluxion <args>` through the shell and captures its output.
CommandResult run_fluxion(const std::string& args);
// Runs a shell command line and captures its output.
CommandResult run_shell(const std::string& command_line);

// "name numel dim0 dim1 ...\n" per tensor: names and shapes for a Python script that builds
// tensors of a model's state dict (the converter tests).
std::string shape_spec(const std::map<std::string, torch::Tensor>& tensors);

// The lines of RUN/metrics.jsonl, in order (empty when there is none).
std::vector<nlohmann::json> read_metrics(const std::string& run);

// Writes raw bytes to a file (for malformed-input tests).
void write_bytes(const std::string& path, const std::string& bytes);
std::string read_bytes(const std::string& path);

// Checks that `action` throws a fluxion::Error whose message contains every fragment.
void expect_error(const std::function<void()>& action, const std::vector<std::string>& fragments);

// The same, and the message is one line (what `main` prints for a corrupt or truncated file).
void expect_one_line_error(const std::function<void()>& action, const std::vector<std::string>& fragments);

// Largest absolute difference, as a double.
double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b);

// Two safetensors files hold the same tensor names and bit-identical tensors (exact resumes).
void require_same_tensors(const std::string& a, const std::string& b);

// A tiny AutoencoderKL (2x downsampling to 4 latent channels) as diffusers' files: its config
// (kTinyVaeConfig) at `config_path` and fill-rule weights at `weights_path`.
extern const char* const kTinyVaeConfig;
void write_tiny_vae(const std::string& weights_path, const std::string& config_path);

// A Python that can import all the given modules (comma-separated, e.g. "torch,numpy"): python3
// on PATH, else Debian's /usr/bin/python3, since a pyenv shim on PATH lacks Debian's python3-*
// packages. "" when neither can; the callers then skip.
const std::string& python_with(const std::string& modules);

}  // namespace fluxion::test
