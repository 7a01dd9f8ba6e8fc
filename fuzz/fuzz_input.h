#pragma once
// Shared by the libFuzzer targets (fuzz/fuzz_*.cpp, built with -DFLUXION_FUZZ=ON).
//
// fluxion::Error is the answer every parser must give to bad input; any other exception escaping
// a parser is a finding, as are sanitizer reports, timeouts and out-of-memory (libFuzzer's
// -rss_limit_mb): declared sizes must be checked against the file before allocating.
#include <cstdint>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <typeinfo>
#include <fstream>
#include <string>
#include <unistd.h>

#include "core/error.h"

namespace fluxion::fuzz {

// A per-process scratch path with `suffix` (parsers that take paths read the input from it).
inline std::string scratch_path(const std::string& suffix) {
  const char* dir = std::getenv("TMPDIR");
  return std::string(dir && *dir ? dir : "/tmp") + "/fluxion-fuzz-" + std::to_string(getpid()) + suffix;
}

inline void write_input(const std::string& path, const uint8_t* data, size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
}

// Runs `parse`; fluxion::Error is expected, anything else aborts with the message (a finding).
template <typename Parse>
int expect_clean(Parse&& parse) {
  try {
    parse();
  } catch (const fluxion::Error&) {
  } catch (const std::exception& e) {
#ifdef FLUXION_FUZZ_REPLAY
    // the gcc test suite replays inputs through the entry points: a finding fails the test case
    throw std::logic_error(std::string("FINDING: ") + typeid(e).name() +
                           " escaped as a non-fluxion exception: " + e.what());
#else
    std::fprintf(stderr, "FINDING: %s escaped as a non-fluxion exception: %s\n", typeid(e).name(), e.what());
    std::abort();
#endif
  }
  return 0;
}

}  // namespace fluxion::fuzz
