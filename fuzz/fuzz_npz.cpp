// .npz: the zip directory (ZIP64 included, through libzip), deflate, CRCs, and each member's .npy;
// the same bytes as an ADM sample/reference batch and as pytorch-fid statistics.
#include "core/dataset_sources.h"
#include "core/npz.h"
#include "fuzz/fuzz_input.h"
#include "metrics/stats_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto path = fluxion::fuzz::scratch_path(".npz");
  fluxion::fuzz::write_input(path, data, size);
  using namespace fluxion;
  fuzz::expect_clean([&] { core::list_npz(path); });
  fuzz::expect_clean([&] { core::load_npz(path); });
  fuzz::expect_clean([&] {
    auto images = core::open_npz_dataset(path);
    if (images->size() > 0) images->get(images->size() - 1);
  });
  fuzz::expect_clean([&] { metrics::load_stats_npz(path); });
  fuzz::expect_clean([&] { metrics::load_reference_batch(path); });
  return 0;
}
