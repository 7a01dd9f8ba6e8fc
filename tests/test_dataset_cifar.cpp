#include <catch2/catch.hpp>

#include <filesystem>

#include "core/dataset.h"
#include "core/dataset_sources.h"
#include "test_helpers.h"

using namespace fluxion;

namespace {
// A CIFAR-10 record whose red plane is `base`, green `base + 1`, blue `base + 2`, except pixel
// (row 1, col 2) of the red plane, which is 200.
std::string record(int label, int base) {
  std::string bytes(1, static_cast<char>(label));
  for (int c = 0; c < 3; ++c) {
    std::string plane(1024, static_cast<char>(base + c));
    if (c == 0) plane[1 * 32 + 2] = static_cast<char>(200);
    bytes += plane;
  }
  return bytes;
}

void write_split(const std::string& dir) {
  std::filesystem::create_directories(dir);
  for (int i = 1; i <= 5; ++i)
    test::write_bytes(dir + "/data_batch_" + std::to_string(i) + ".bin", record(i, 10 * i) + record(i + 4, 10 * i + 5));
  test::write_bytes(dir + "/test_batch.bin", record(3, 100) + record(0, 50) + record(9, 60));
}
}  // namespace

TEST_CASE("CIFAR-10 binary batches decode into RGB planes with labels", "[unit][dataset]") {
  const auto dir = test::scratch_dir("cifar_plain");
  write_split(dir);
  auto train = core::open_dataset("cifar10:" + dir);
  CHECK(train->size() == 10);
  CHECK(train->channels() == 3);
  CHECK(train->height() == 32);
  CHECK(train->width() == 32);
  CHECK(train->num_classes() == 10);
  CHECK(train->class_names()[3] == "cat");
  // Batches in order 1..5, records in file order.
  CHECK(train->get(0).label == 1);
  CHECK(train->get(1).label == 5);
  CHECK(train->get(8).label == 5);
  CHECK(train->get(9).label == 9);
  const auto image = train->get(2).image;  // batch 2, first record: base 20
  CHECK(image.sizes() == torch::IntArrayRef({3, 32, 32}));
  CHECK(image[0][0][0].item<int>() == 20);
  CHECK(image[1][5][5].item<int>() == 21);
  CHECK(image[2][31][31].item<int>() == 22);
  CHECK(image[0][1][2].item<int>() == 200);  // row-major within a plane
  CHECK(image[0][2][1].item<int>() == 20);

  auto test_split = core::open_dataset("cifar10:" + dir + ":test");
  CHECK(test_split->size() == 3);
  CHECK(test_split->get(0).label == 3);
  CHECK(test_split->get(2).image[1][0][0].item<int>() == 61);
}

TEST_CASE("CIFAR-10 accepts the folder above cifar-10-batches-bin", "[unit][dataset]") {
  const auto dir = test::scratch_dir("cifar_nested");
  write_split(dir + "/cifar-10-batches-bin");
  CHECK(core::open_cifar10(dir, "test")->size() == 3);
}

TEST_CASE("broken CIFAR-10 batches fail with the file named", "[unit][dataset]") {
  const auto dir = test::scratch_dir("cifar_broken");
  write_split(dir);
  using test::expect_error;
  test::write_bytes(dir + "/test_batch.bin", record(1, 1) + "short");
  expect_error([&] { core::open_cifar10(dir, "test"); }, {dir + "/test_batch.bin", "3073"});
  test::write_bytes(dir + "/test_batch.bin", record(42, 1));
  expect_error([&] { core::open_cifar10(dir, "test"); }, {dir + "/test_batch.bin", "label 42"});
  std::filesystem::remove(dir + "/data_batch_4.bin");
  expect_error([&] { core::open_cifar10(dir, "train"); }, {"data_batch_4.bin", "not found"});
  expect_error([&] { core::open_cifar10(dir, "val"); }, {"val", "train or test"});
}
