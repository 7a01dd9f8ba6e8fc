// idx (MNIST layout), gzipped or raw: the input is the images file, with a valid 1-label file;
// the first 2 bytes pick gzip handling (raw bytes or, when they are gzip's magic, a .gz).
#include "core/dataset_sources.h"
#include "fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fluxion;
  const bool gz = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
  static const auto images_raw = fuzz::scratch_path("-images.idx"), images_gz = fuzz::scratch_path("-images.idx.gz");
  static const auto labels = fuzz::scratch_path("-labels.idx");
  static const bool labels_written = [] {
    const uint8_t one_label[] = {0, 0, 8, 1, 0, 0, 0, 1, 3};
    fuzz::write_input(labels, one_label, sizeof one_label);
    return true;
  }();
  (void)labels_written;
  const auto& images = gz ? images_gz : images_raw;
  fuzz::write_input(images, data, size);
  return fuzz::expect_clean([&] {
    auto ds = core::open_idx_dataset(images, labels, "fuzz");
    if (ds->size() > 0) ds->get(0);
  });
}
