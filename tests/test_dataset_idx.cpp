#include <catch2/catch.hpp>

#include <zlib.h>

#include <filesystem>

#include "core/dataset.h"
#include "core/dataset_sources.h"
#include "test_helpers.h"

using namespace fluxion;

namespace {
std::string big_endian(uint32_t value) {
  std::string bytes(4, '\0');
  for (int i = 0; i < 4; ++i) bytes[i] = static_cast<char>(value >> (24 - 8 * i));
  return bytes;
}

// An idx file: magic, dims, then bytes 0, 1, 2, ... (mod 256) or the given payload.
std::string idx_bytes(uint32_t magic, const std::vector<uint32_t>& dims, std::string payload = {}) {
  std::string bytes = big_endian(magic);
  size_t count = 1;
  for (auto d : dims) {
    bytes += big_endian(d);
    count *= d;
  }
  if (payload.empty())
    for (size_t i = 0; i < count; ++i) payload.push_back(static_cast<char>(i % 256));
  return bytes + payload;
}

void write_gz(const std::string& path, const std::string& bytes) {
  gzFile file = gzopen(path.c_str(), "wb");
  REQUIRE(file != nullptr);
  REQUIRE(gzwrite(file, bytes.data(), static_cast<unsigned>(bytes.size())) == static_cast<int>(bytes.size()));
  gzclose(file);
}

const std::string kLabels = std::string("\x02\x00\x01", 3);

using test::expect_error;
}  // namespace

TEST_CASE("real Fashion-MNIST train and test splits", "[unit][dataset]") {
  test::require_fashion_mnist();
  auto train = core::open_dataset("fashion-mnist:train");
  CHECK(train->size() == 60000);
  CHECK(train->channels() == 1);
  CHECK(train->height() == 28);
  CHECK(train->width() == 28);
  CHECK(train->num_classes() == 10);
  CHECK(train->class_names() == core::fashion_mnist_class_names());
  CHECK(train->class_names()[9] == "Ankle boot");
  CHECK(train->describe().find("fashion-mnist train") != std::string::npos);

  std::vector<int64_t> histogram(10, 0);
  for (int64_t i = 0; i < train->size(); ++i) ++histogram.at(static_cast<size_t>(train->get(i).label));
  for (auto count : histogram) CHECK(count == 6000);

  // First items, checked against Python's gzip reading of the same files.
  const auto first = train->get(0);
  CHECK(first.label == 9);
  CHECK(first.image.sizes() == torch::IntArrayRef({1, 28, 28}));
  CHECK(first.image.scalar_type() == torch::kByte);
  CHECK(first.image.sum().item<int64_t>() == 76247);
  CHECK(train->get(3).label == 3);

  auto test = core::open_dataset("fashion-mnist:test");
  CHECK(test->size() == 10000);
  CHECK(test->get(0).label == 9);
  CHECK(test->get(1).label == 2);
  CHECK(test->get(0).image.sum().item<int64_t>() == 33456);
}

TEST_CASE("idx files read the same gzipped and raw", "[unit][dataset]") {
  const auto dir = test::scratch_dir("idx_variants");
  const auto images = idx_bytes(0x803, {3, 2, 4});
  test::write_bytes(dir + "/raw-images", images);
  test::write_bytes(dir + "/raw-labels", idx_bytes(0x801, {3}, kLabels));
  write_gz(dir + "/gz-images", images);
  write_gz(dir + "/gz-labels", idx_bytes(0x801, {3}, kLabels));

  auto raw = core::open_idx_dataset(dir + "/raw-images", dir + "/raw-labels", "raw");
  auto gz = core::open_idx_dataset(dir + "/gz-images", dir + "/gz-labels", "gz");
  for (auto& ds : {raw, gz}) {
    CHECK(ds->size() == 3);
    CHECK(ds->channels() == 1);
    CHECK(ds->height() == 2);
    CHECK(ds->width() == 4);
    CHECK(ds->num_classes() == 3);
    CHECK(ds->get(0).label == 2);
    CHECK(ds->get(1).label == 0);
    CHECK(torch::equal(ds->get(1).image.flatten(), torch::arange(8, 16, torch::kLong).to(torch::kByte)));
  }
  for (int64_t i = 0; i < 3; ++i) CHECK(torch::equal(raw->get(i).image, gz->get(i).image));
}

TEST_CASE("idx folders resolve through open_dataset specs", "[unit][dataset]") {
  const auto dir = test::scratch_dir("idx_folder");
  write_gz(dir + "/t10k-images-idx3-ubyte.gz", idx_bytes(0x803, {3, 5, 5}));
  write_gz(dir + "/t10k-labels-idx1-ubyte.gz", idx_bytes(0x801, {3}, kLabels));
  test::write_bytes(dir + "/train-images.idx3-ubyte", idx_bytes(0x803, {2, 5, 5}));
  test::write_bytes(dir + "/train-labels.idx1-ubyte", idx_bytes(0x801, {2}, std::string("\x07\x01", 2)));

  auto test_split = core::open_dataset("fashion-mnist:" + dir + ":test");
  CHECK(test_split->size() == 3);
  CHECK(test_split->num_classes() == 10);                 // Fashion-MNIST always has 10
  auto train_split = core::open_dataset("mnist:" + dir);  // train by default
  CHECK(train_split->size() == 2);
  CHECK(train_split->num_classes() == 8);  // max label + 1 for plain idx
  CHECK(train_split->get(0).label == 7);
  CHECK(core::open_dataset("mnist:" + dir + ":train")->size() == 2);

  auto padded = core::open_dataset("mnist:" + dir + ":test", core::ImageTransform{0, 0, 8, 3});
  CHECK(padded->channels() == 3);
  CHECK(padded->height() == 8);
  CHECK(padded->get(2).image.sizes() == torch::IntArrayRef({3, 8, 8}));

  expect_error([&] { core::open_dataset("mnist:" + dir + "/nowhere"); }, {"nowhere", "not found"});
  expect_error([&] { core::open_dataset("cifar100:" + dir); },
               {"cifar100:", "fashion-mnist:train", "cifar10:DIR", ".npz"});
}

TEST_CASE("broken idx files fail with the file named", "[unit][dataset]") {
  const auto dir = test::scratch_dir("idx_broken");
  const auto labels = dir + "/labels";
  test::write_bytes(labels, idx_bytes(0x801, {3}, kLabels));

  SECTION("wrong magic") {
    test::write_bytes(dir + "/images", idx_bytes(0x801, {3, 2, 4}));
    expect_error([&] { core::open_idx_dataset(dir + "/images", labels, "x"); },
                 {dir + "/images", "magic 0x00000801", "expected 0x00000803"});
    test::write_bytes(dir + "/good", idx_bytes(0x803, {3, 2, 4}));
    expect_error([&] { core::open_idx_dataset(dir + "/good", dir + "/good", "x"); },
                 {dir + "/good", "expected 0x00000801"});
  }
  SECTION("truncated raw data") {
    auto bytes = idx_bytes(0x803, {3, 2, 4});
    test::write_bytes(dir + "/images", bytes.substr(0, bytes.size() - 5));
    expect_error([&] { core::open_idx_dataset(dir + "/images", labels, "x"); },
                 {dir + "/images", "truncated", "24", "19"});
  }
  SECTION("truncated header") {
    test::write_bytes(dir + "/images", idx_bytes(0x803, {3, 2, 4}).substr(0, 9));
    expect_error([&] { core::open_idx_dataset(dir + "/images", labels, "x"); }, {dir + "/images", "truncated"});
  }
  SECTION("truncated gzip stream") {
    write_gz(dir + "/full.gz", idx_bytes(0x803, {40, 28, 28}));
    const auto gz = test::read_bytes(dir + "/full.gz");
    test::write_bytes(dir + "/cut.gz", gz.substr(0, gz.size() / 2));
    expect_error([&] { core::open_idx_dataset(dir + "/cut.gz", labels, "x"); }, {dir + "/cut.gz"});
  }
  SECTION("trailing bytes") {
    test::write_bytes(dir + "/images", idx_bytes(0x803, {3, 2, 4}) + "junk");
    expect_error([&] { core::open_idx_dataset(dir + "/images", labels, "x"); }, {dir + "/images", "longer"});
  }
  SECTION("image and label counts differ") {
    test::write_bytes(dir + "/images", idx_bytes(0x803, {4, 2, 4}));
    expect_error([&] { core::open_idx_dataset(dir + "/images", labels, "x"); },
                 {dir + "/images", "4 images but 3 labels"});
  }
  SECTION("missing file") {
    expect_error([&] { core::open_idx_dataset(dir + "/absent", labels, "x"); }, {dir + "/absent", "not found"});
  }
  SECTION("sizes in the header beyond what the file holds (fuzz_idx finding)") {
    // 2 x 31234 x 8388611 images promised by a 28-byte raw file: refused before allocating 524 GB
    const std::string raw(
        "\x00\x00\x08\x03\x00\x00\x00\x02\x00\x00\x7a\x02\x00\x80\x00\x03"
        "\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f",
        28);
    test::write_bytes(dir + "/images", raw);
    expect_error([&] { core::open_idx_dataset(dir + "/images", labels, "x"); },
                 {dir + "/images", "truncated", "header promises 524019751948 data bytes", "only 12 follow"});
    // dimensions whose product overflows int64 (UBSan's finding before the product was checked)
    test::write_bytes(dir + "/images",
                      std::string("\x00\x00\x08\x03\x00\x1a\x00\x00\x00\x04\x7f\x7f\x7f\x7f\x7f\x7f", 16));
    expect_error([&] { core::open_idx_dataset(dir + "/images", labels, "x"); },
                 {dir + "/images", "implausible total size"});
    // gzipped: 1 GiB promised by a few dozen compressed bytes (deflate expands at most 1032-fold)
    write_gz(dir + "/images.gz", idx_bytes(0x803, {1024, 1024, 1024}, "x"));
    expect_error([&] { core::open_idx_dataset(dir + "/images.gz", labels, "x"); },
                 {dir + "/images.gz", "gzipped", "header promises 1073741824 data bytes", "compressed bytes"});
  }
  SECTION("label outside the named classes") {
    test::write_bytes(dir + "/images", idx_bytes(0x803, {3, 2, 4}));
    test::write_bytes(dir + "/bad-labels", idx_bytes(0x801, {3}, std::string("\x01\x0c\x00", 3)));
    expect_error(
        [&] {
          core::open_idx_dataset(dir + "/images", dir + "/bad-labels", "fmnist", core::fashion_mnist_class_names());
        },
        {"fmnist", "label 12"});
  }
}
