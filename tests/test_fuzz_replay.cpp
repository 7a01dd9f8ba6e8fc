// The libFuzzer targets of fuzz/ need clang (-DFLUXION_FUZZ=ON, tools/fuzz.sh); their entry
// points also build with gcc into this suite (LLVMFuzzerTestOneInput renamed per target, see
// tests/CMakeLists.txt), so that every default run replays the seed corpora, their truncations and
// byte flips through exactly the code the fuzzer drives. A non-fluxion exception escaping a parser
// fails the case (fuzz_input.h throws instead of aborting under FLUXION_FUZZ_REPLAY); a crash
// fails the whole run.
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstdlib>
#include <filesystem>

#include <unistd.h>

#include "fuzz/seeds.h"
#include "test_helpers.h"

extern "C" {
int fuzz_checkpoint_entry(const uint8_t* data, size_t size);
int fuzz_cifar_entry(const uint8_t* data, size_t size);
int fuzz_config_entry(const uint8_t* data, size_t size);
int fuzz_idx_entry(const uint8_t* data, size_t size);
int fuzz_image_entry(const uint8_t* data, size_t size);
int fuzz_npy_entry(const uint8_t* data, size_t size);
int fuzz_npz_entry(const uint8_t* data, size_t size);
int fuzz_safetensors_entry(const uint8_t* data, size_t size);
int fuzz_torch_checkpoint_entry(const uint8_t* data, size_t size);
}

namespace fs = std::filesystem;
using namespace fluxion;

namespace {
struct Target {
  const char* name;
  int (*entry)(const uint8_t*, size_t);
};
const Target kTargets[] = {{"fuzz_checkpoint", fuzz_checkpoint_entry},
                           {"fuzz_cifar", fuzz_cifar_entry},
                           {"fuzz_config", fuzz_config_entry},
                           {"fuzz_idx", fuzz_idx_entry},
                           {"fuzz_image", fuzz_image_entry},
                           {"fuzz_npy", fuzz_npy_entry},
                           {"fuzz_npz", fuzz_npz_entry},
                           {"fuzz_safetensors", fuzz_safetensors_entry},
                           {"fuzz_torch_checkpoint", fuzz_torch_checkpoint_entry}};

void replay(const Target& target, const std::string& bytes) {
  target.entry(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

// Evenly spread positions in [0, size), at most `count` of them.
std::vector<size_t> spread(size_t size, size_t count) {
  std::vector<size_t> at;
  const size_t stride = std::max<size_t>(1, size / count);
  for (size_t i = 0; i < size; i += stride) at.push_back(i);
  return at;
}
}  // namespace

TEST_CASE("the fuzz targets take their seeds, truncations and byte flips cleanly", "[unit][fuzz]") {
  const auto dir = test::scratch_dir("fuzz_replay");
  // the targets' scratch files (fuzz_input.h reads TMPDIR once): in memory where possible, since
  // rewriting a file on ext4 waits for the disk
  const std::string tmp =
      fs::is_directory("/dev/shm") ? "/dev/shm/fluxion-fuzz-replay-" + std::to_string(::getpid()) : dir + "/tmp";
  fs::create_directories(tmp);
  ::setenv("TMPDIR", tmp.c_str(), 1);
  fluxion::fuzz::write_seeds(dir + "/seeds");
  int inputs = 0;
  for (const auto& target : kTargets) {
    const auto seeds = fs::path(dir) / "seeds" / target.name;
    REQUIRE(fs::is_directory(seeds));
    for (const auto& entry : fs::directory_iterator(seeds)) {
      const auto bytes = test::read_bytes(entry.path().string());
      INFO(target.name << " on " << entry.path().filename().string() << " (" << bytes.size() << " bytes)");
      REQUIRE_NOTHROW(replay(target, bytes));
      for (size_t cut : spread(bytes.size(), 48)) {
        INFO("cut to " << cut << " bytes");
        REQUIRE_NOTHROW(replay(target, bytes.substr(0, cut)));
      }
      for (size_t at : spread(bytes.size(), 48)) {
        for (unsigned char with : {0x00, 0xff, 0x7f}) {
          auto flipped = bytes;
          flipped[at] = static_cast<char>(with);
          INFO("byte " << at << " set to " << int(with));
          REQUIRE_NOTHROW(replay(target, flipped));
        }
      }
      inputs += 1;
    }
  }
  CHECK(inputs >= 15);
  fs::remove_all(tmp);
}
