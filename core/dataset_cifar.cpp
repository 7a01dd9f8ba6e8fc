// CIFAR-10, binary version (cifar-10-binary.tar.gz): each record is one label byte followed by
// the 32x32 red, green and blue planes, row-major.
#include "core/dataset_sources.h"

#include "core/error.h"

#include <filesystem>
#include <fstream>

namespace fluxion::core {

namespace {
constexpr int64_t kSide = 32;
constexpr int64_t kPixels = 3 * kSide * kSide;
constexpr int64_t kRecord = 1 + kPixels;

// Appends the records of one batch file to `images` (N, 3, 32, 32) and `labels` (N).
void read_batch(const std::string& path, std::vector<torch::Tensor>& images, std::vector<torch::Tensor>& labels) {
  FLUXION_CHECK(std::filesystem::is_regular_file(path), "CIFAR-10 batch ", path, ": not found");
  const auto bytes = static_cast<int64_t>(std::filesystem::file_size(path));
  FLUXION_CHECK(bytes > 0 && bytes % kRecord == 0, "CIFAR-10 batch ", path, ": size ", bytes,
                " is not a positive multiple of the ", kRecord, "-byte record");
  const int64_t n = bytes / kRecord;
  auto records = torch::empty({n, kRecord}, torch::kByte);
  std::ifstream in(path, std::ios::binary);
  in.read(reinterpret_cast<char*>(records.data_ptr<uint8_t>()), bytes);
  FLUXION_CHECK(in.gcount() == bytes, "CIFAR-10 batch ", path, ": read ", in.gcount(), " of ", bytes, " bytes");
  auto label = records.select(1, 0).to(torch::kLong);
  const int64_t highest = label.max().item<int64_t>();
  FLUXION_CHECK(highest < 10, "CIFAR-10 batch ", path, ": label ", highest,
                " out of range (expected 0..9; is this the CIFAR-100 binary format?)");
  // (N, 3073) -> (N, 3, 32, 32)
  images.push_back(records.narrow(1, 1, kPixels).reshape({n, 3, kSide, kSide}));
  labels.push_back(label);
}
}  // namespace

const std::vector<std::string>& cifar10_class_names() {
  static const std::vector<std::string> names = {"airplane", "automobile", "bird",  "cat",  "deer",
                                                 "dog",      "frog",       "horse", "ship", "truck"};
  return names;
}

std::shared_ptr<Dataset> open_cifar10(const std::string& dir, const std::string& split) {
  FLUXION_CHECK(split == "train" || split == "test", "cifar10:", dir, ": unknown split '", split,
                "' (expected train or test)");
  FLUXION_CHECK(std::filesystem::is_directory(dir), "cifar10: folder ", dir, " not found");
  std::filesystem::path root = dir;
  if (!std::filesystem::exists(root / "test_batch.bin") &&
      std::filesystem::exists(root / "cifar-10-batches-bin" / "test_batch.bin"))
    root /= "cifar-10-batches-bin";
  std::vector<std::string> files;
  if (split == "train") {
    for (int i = 1; i <= 5; ++i) files.push_back((root / concat("data_batch_", i, ".bin")).string());
  } else {
    files.push_back((root / "test_batch.bin").string());
  }
  std::vector<torch::Tensor> images, labels;
  for (const auto& file : files) read_batch(file, images, labels);
  return make_tensor_dataset(torch::cat(images), torch::cat(labels),
                             concat("cifar10 ", split, " (", root.string(), ")"), 10, cifar10_class_names());
}

}  // namespace fluxion::core
