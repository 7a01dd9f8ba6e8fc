#pragma once
// Shared helpers for fluxion's tests: scratch folders, golden-file paths, running the CLI,
// malformed input and the errors it must raise.
#include <torch/torch.h>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace fluxion::test {

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

// Writes raw bytes to a file (for malformed-input tests).
void write_bytes(const std::string& path, const std::string& bytes);
std::string read_bytes(const std::string& path);

// Checks that `action` throws a fluxion::Error whose message contains every fragment.
void expect_error(const std::function<void()>& action, const std::vector<std::string>& fragments);

// The same, and the message is one line (what `main` prints for a corrupt or truncated file).
void expect_one_line_error(const std::function<void()>& action, const std::vector<std::string>& fragments);

// Largest absolute difference, as a double.
double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b);

// True when python3 can import all the given modules (comma-separated).
bool python_has(const std::string& modules);

}  // namespace fluxion::test
