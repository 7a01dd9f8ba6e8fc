// PyTorch 2.11's wheels export a partial copy of libstdc++'s std::filesystem; executables whose
// references bind to it crash in remove_all on a non-empty folder (issue 18's GPU-only crash).
// CMakeLists.txt's fluxion_link_libstdcxx_first names libstdc++.so.6 first; these tests fail if
// the binding regresses, whichever LibTorch is installed.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "test_helpers.h"

using namespace fluxion;

namespace {

// The std::filesystem symbols `executable` binds at start-up (LD_BIND_NOW), as "symbol -> library"
// lines, read from the dynamic loader's own trace. Empty output means the loader has no trace.
std::vector<std::string> filesystem_bindings(const std::string& executable, const std::string& args) {
  const auto run = test::run_shell("LD_BIND_NOW=1 LD_DEBUG=bindings \"" + executable + "\" " + args);
  const std::string own_file = "binding file " + executable + " [0] to ";
  std::vector<std::string> bindings;
  std::istringstream lines(run.output);
  for (std::string line; std::getline(lines, line);) {
    const auto from = line.find(own_file);
    if (from == std::string::npos || line.find("symbol `_ZNSt10filesystem") == std::string::npos) continue;
    const auto library_start = from + own_file.size();
    const auto library = line.substr(library_start, line.find(" [", library_start) - library_start);
    const auto symbol_start = line.find('`') + 1;
    bindings.push_back(line.substr(symbol_start, line.find('\'', symbol_start) - symbol_start) + " -> " + library);
  }
  return bindings;
}

void require_libstdcxx_bindings(const std::string& executable, const std::string& args) {
  const auto bindings = filesystem_bindings(executable, args);
  if (bindings.empty()) test::skip_test("the dynamic loader printed no std::filesystem bindings (LD_DEBUG)");
  for (const auto& binding : bindings) {
    INFO(executable << ": " << binding);
    CHECK(binding.find("libstdc++.so") != std::string::npos);
  }
}

}  // namespace

TEST_CASE("std::filesystem::remove_all removes a non-empty folder tree", "[unit]") {
  const auto root = std::filesystem::path(test::scratch_dir("remove_all_tree"));
  std::filesystem::create_directories(root / "a" / "b");
  std::ofstream(root / "a" / "file.txt") << "x";
  std::ofstream(root / "a" / "b" / "file.txt") << "y";
  CHECK(std::filesystem::remove_all(root / "a") == 4);
  CHECK(!std::filesystem::exists(root / "a"));
  CHECK(std::filesystem::is_empty(root));
}

TEST_CASE("the CLI and the test binary bind std::filesystem to libstdc++, not to LibTorch's copy", "[unit]") {
  require_libstdcxx_bindings(FLUXION_BINARY, "--version");
  require_libstdcxx_bindings(std::filesystem::read_symlink("/proc/self/exe").string(), "--list-tags");
}
