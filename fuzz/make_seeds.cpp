// fuzz_make_seeds OUT: small valid inputs for every fuzz target, written with fluxion's own writers
// into OUT/<target>/ (tools/fuzz.sh and `ctest -L fuzz` seed each corpus with them).
#include <filesystem>
#include <iostream>

#include "core/error.h"
#include "fuzz/seeds.h"

namespace fs = std::filesystem;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: fuzz_make_seeds OUT_DIR\n";
    return 2;
  }
  try {
    fluxion::fuzz::write_seeds(argv[1]);
  } catch (const std::exception& e) {
    std::cerr << "fuzz_make_seeds: " << e.what() << "\n";
    return 1;
  }
  for (const auto& entry : fs::directory_iterator(argv[1])) {
    std::cout << entry.path().filename().string() << ": " << std::distance(fs::directory_iterator(entry.path()), {})
              << " seeds\n";
  }
  return 0;
}
