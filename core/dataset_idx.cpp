// MNIST-style idx files (MNIST, Fashion-MNIST, KMNIST...), gzipped or raw. zlib's gzread reads
// raw files transparently, so both go through one path; the magic bytes only tell the message.
#include "core/dataset_sources.h"

#include "core/error.h"

#include <zlib.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace fluxion::core {

namespace {
constexpr uint32_t kImagesMagic = 0x00000803;  // unsigned bytes, 3 dimensions
constexpr uint32_t kLabelsMagic = 0x00000801;  // unsigned bytes, 1 dimension
constexpr int64_t kMaxDeflateRatio = 1032;     // deflate's largest expansion (zlib's tech notes)

bool is_gzip(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  unsigned char magic[2] = {0, 0};
  in.read(reinterpret_cast<char*>(magic), 2);
  return in.gcount() == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
}

class GzReader {
 public:
  explicit GzReader(const std::string& path) : path_(path), file_(gzopen(path.c_str(), "rb")) {
    FLUXION_CHECK(file_ != nullptr, "idx file ", path, ": cannot open");
  }
  ~GzReader() { gzclose(file_); }
  GzReader(const GzReader&) = delete;
  GzReader& operator=(const GzReader&) = delete;

  // Reads up to n bytes; returns how many arrived (fewer at end of data).
  int64_t read(void* destination, int64_t n) {
    auto* out = static_cast<unsigned char*>(destination);
    int64_t total = 0;
    while (total < n) {
      const auto chunk = static_cast<unsigned>(std::min<int64_t>(n - total, 1 << 30));
      const int got = gzread(file_, out + total, chunk);
      if (got < 0) {
        int code = 0;
        const char* message = gzerror(file_, &code);
        fail("idx file ", path_, ": corrupt data (", message ? message : "zlib error", ")");
      }
      if (got == 0) break;
      total += got;
    }
    return total;
  }

 private:
  std::string path_;
  gzFile file_;
};

uint32_t big_endian_u32(const unsigned char* bytes) {
  return (uint32_t(bytes[0]) << 24) | (uint32_t(bytes[1]) << 16) | (uint32_t(bytes[2]) << 8) | uint32_t(bytes[3]);
}

// The array of an idx file as uint8 with its dimensions, after checking magic and length.
torch::Tensor read_idx(const std::string& path, uint32_t expected_magic, const char* kind) {
  FLUXION_CHECK(std::filesystem::is_regular_file(path), "idx file ", path, ": not found");
  const bool gzipped = is_gzip(path);
  const char* format = gzipped ? "gzipped" : "raw";
  GzReader reader(path);
  std::array<unsigned char, 4> word{};
  FLUXION_CHECK(reader.read(word.data(), 4) == 4, "idx file ", path, " (", format,
                "): truncated before the 4-byte magic");
  const uint32_t magic = big_endian_u32(word.data());
  if (magic != expected_magic) {
    char found[16], wanted[16];
    std::snprintf(found, sizeof(found), "0x%08x", magic);
    std::snprintf(wanted, sizeof(wanted), "0x%08x", expected_magic);
    fail("idx file ", path, " (", format, "): magic ", found, ", expected ", wanted, " for ", kind);
  }
  const int ndims = static_cast<int>(magic & 0xff);
  std::vector<int64_t> dims;
  int64_t count = 1;
  for (int d = 0; d < ndims; ++d) {
    FLUXION_CHECK(reader.read(word.data(), 4) == 4, "idx file ", path, " (", format,
                  "): truncated in the dimension header");
    const int64_t size = big_endian_u32(word.data());
    FLUXION_CHECK(size < (int64_t(1) << 31), "idx file ", path, ": implausible dimension ", size);
    dims.push_back(size);
    // checked before multiplying: three dimensions just under 2^31 overflow int64
    constexpr int64_t kMaxCount = int64_t(1) << 40;
    FLUXION_CHECK(size == 0 || count < kMaxCount / size, "idx file ", path, ": implausible total size");
    count *= size;
  }
  // The header's sizes are checked against what the file can hold before allocating: a raw file
  // holds its bytes, and deflate expands at most 1032-fold, so a few corrupt header bytes cannot
  // ask for terabytes.
  const auto file_bytes = static_cast<int64_t>(std::filesystem::file_size(path));
  if (gzipped) {
    FLUXION_CHECK(count <= file_bytes * kMaxDeflateRatio, "idx file ", path, " (", format, "): header promises ", count,
                  " data bytes, more than ", file_bytes, " compressed bytes can hold");
  } else {
    const int64_t available = file_bytes - 4 * (1 + ndims);
    FLUXION_CHECK(count <= available, "idx file ", path, " (", format, "): truncated, header promises ", count,
                  " data bytes but only ", available, " follow");
  }
  auto data = torch::empty(dims, torch::kByte);
  const int64_t got = reader.read(data.data_ptr<uint8_t>(), count);
  FLUXION_CHECK(got == count, "idx file ", path, " (", format, "): truncated, header promises ", count,
                " data bytes but only ", got, " follow");
  unsigned char extra = 0;
  FLUXION_CHECK(reader.read(&extra, 1) == 0, "idx file ", path, " (", format, "): longer than its header (", count,
                " data bytes) says");
  return data;
}

std::string first_existing(const std::string& dir, const std::vector<std::string>& names) {
  for (const auto& name : names) {
    for (const char* suffix : {".gz", ""}) {
      const auto path = std::filesystem::path(dir) / (name + suffix);
      if (std::filesystem::is_regular_file(path)) return path.string();
    }
  }
  return {};
}
}  // namespace

const std::vector<std::string>& fashion_mnist_class_names() {
  static const std::vector<std::string> names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                 "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  return names;
}

std::string fashion_mnist_default_dir() {
  const char* env = std::getenv("FLUXION_FASHION_MNIST_DIR");
  return env && *env ? std::string(env) : std::string("/usr/share/datasets/fashion-mnist");
}

std::shared_ptr<Dataset> open_idx_dataset(const std::string& images_path, const std::string& labels_path,
                                          const std::string& name, std::vector<std::string> class_names) {
  auto images = read_idx(images_path, kImagesMagic, "images (unsigned bytes, 3 dims)");
  auto labels = read_idx(labels_path, kLabelsMagic, "labels (unsigned bytes, 1 dim)");
  FLUXION_CHECK(images.size(0) == labels.size(0), "idx files ", images_path, " and ", labels_path, ": ", images.size(0),
                " images but ", labels.size(0), " labels");
  const int64_t classes = class_names.empty() ? -1 : static_cast<int64_t>(class_names.size());
  // (N, H, W) -> (N, 1, H, W)
  return make_tensor_dataset(images.unsqueeze(1), labels, name, classes, std::move(class_names));
}

std::shared_ptr<Dataset> open_idx_folder(const std::string& dir, const std::string& split, const std::string& name,
                                         std::vector<std::string> class_names) {
  FLUXION_CHECK(split == "train" || split == "test", name, ": unknown split '", split, "' (expected train or test)");
  FLUXION_CHECK(std::filesystem::is_directory(dir), name, ": folder ", dir, " not found");
  const std::string prefix = split == "train" ? "train" : "t10k";
  const auto images = first_existing(dir, {prefix + "-images-idx3-ubyte", prefix + "-images.idx3-ubyte"});
  const auto labels = first_existing(dir, {prefix + "-labels-idx1-ubyte", prefix + "-labels.idx1-ubyte"});
  FLUXION_CHECK(!images.empty(), name, ": no ", prefix, "-images-idx3-ubyte[.gz] in ", dir);
  FLUXION_CHECK(!labels.empty(), name, ": no ", prefix, "-labels-idx1-ubyte[.gz] in ", dir);
  return open_idx_dataset(images, labels, concat(name, " ", split, " (", dir, ")"), std::move(class_names));
}

}  // namespace fluxion::core
