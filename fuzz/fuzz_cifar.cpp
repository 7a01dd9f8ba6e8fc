// CIFAR-10 binary batches: the input is test_batch.bin (records of 1 label byte + 3072 pixels).
#include <filesystem>

#include "core/dataset_sources.h"
#include "fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fluxion;
  static const auto dir = fuzz::scratch_path("-cifar");
  static const bool made = std::filesystem::create_directories(dir) || true;
  (void)made;
  fuzz::write_input(dir + "/test_batch.bin", data, size);
  return fuzz::expect_clean([&] {
    auto ds = core::open_cifar10(dir, "test");
    if (ds->size() > 0) ds->get(ds->size() - 1);
  });
}
