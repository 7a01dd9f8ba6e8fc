#include <catch2/catch.hpp>

#include <filesystem>

#include "core/dataset.h"
#include "core/dataset_sources.h"
#include "core/error.h"
#include "core/image_io.h"
#include "test_helpers.h"

using namespace fluxion;

namespace {
torch::Tensor solid(int64_t c, int64_t h, int64_t w, int value) { return torch::full({c, h, w}, value, torch::kByte); }
}  // namespace

TEST_CASE("class subfolders become sorted labels", "[unit][dataset]") {
  const auto dir = test::scratch_dir("folder_classes");
  for (const char* name : {"dog", "cat", "empty", "dog/nested"}) std::filesystem::create_directories(dir + "/" + name);
  core::write_png(dir + "/dog/b.png", solid(3, 6, 5, 30));
  core::write_png(dir + "/dog/a.png", solid(3, 6, 5, 20));
  core::write_png(dir + "/cat/z.png", solid(3, 6, 5, 10));
  core::write_png(dir + "/dog/nested/y.png", solid(1, 6, 5, 11));  // gray, decoded as RGB
  test::write_bytes(dir + "/cat/notes.txt", "not an image");

  auto ds = core::open_dataset(dir);
  CHECK(ds->size() == 4);
  CHECK(ds->num_classes() == 2);
  CHECK(ds->class_names() == std::vector<std::string>{"cat", "dog"});
  CHECK(ds->channels() == 3);  // from the first image, cat/z.png
  CHECK(ds->height() == 6);
  CHECK(ds->width() == 5);
  // Sorted paths: cat/z.png, dog/a.png, dog/b.png, dog/nested/y.png.
  CHECK(ds->get(0).label == 0);
  CHECK(ds->get(0).image.sizes() == torch::IntArrayRef({3, 6, 5}));
  CHECK(ds->get(0).image[0][3][3].item<int>() == 10);
  CHECK(ds->get(1).label == 1);
  CHECK(ds->get(1).image[1][5][4].item<int>() == 20);
  CHECK(ds->get(2).image[0][0][0].item<int>() == 30);
  CHECK(ds->get(3).label == 1);
  CHECK(ds->get(3).image.sizes() == torch::IntArrayRef({3, 6, 5}));
  CHECK(ds->get(3).image[2][0][0].item<int>() == 11);
}

TEST_CASE("a flat folder is unlabelled and read recursively", "[unit][dataset]") {
  const auto dir = test::scratch_dir("folder_flat");
  std::filesystem::create_directories(dir + "/more");
  core::write_png(dir + "/000001.png", solid(1, 4, 4, 1));
  core::write_png(dir + "/000000.png", solid(1, 4, 4, 0));
  core::write_png(dir + "/more/000002.png", solid(1, 4, 4, 2));
  auto ds = core::open_dataset(dir);
  CHECK(ds->size() == 3);
  CHECK(ds->num_classes() == 0);
  CHECK(ds->channels() == 1);
  for (int64_t i = 0; i < 3; ++i) {
    CHECK(ds->get(i).label == -1);
    CHECK(ds->get(i).image.max().item<int>() == i);
  }
  auto rgb = core::open_dataset(dir, core::ImageTransform{0, 0, 8, 3});
  CHECK(rgb->channels() == 3);
  CHECK(rgb->get(2).image.sizes() == torch::IntArrayRef({3, 8, 8}));
}

TEST_CASE("folders with mixed sizes need a transform", "[unit][dataset]") {
  const auto dir = test::scratch_dir("folder_sizes");
  core::write_png(dir + "/a.png", solid(3, 8, 8, 5));
  core::write_png(dir + "/b.png", solid(3, 12, 16, 5));
  auto raw = core::open_dataset(dir);
  CHECK_THROWS_WITH(core::load_images(*raw, {0, 1}, 1), Catch::Contains("resize"));
  auto fixed = core::open_dataset(dir, core::ImageTransform{8, 8, 0, 0});
  const auto images = core::load_images(*fixed, {0, 1}, 2);
  CHECK(images.sizes() == torch::IntArrayRef({2, 3, 8, 8}));
  CHECK(images.min().item<int>() == 5);
  CHECK(images.max().item<int>() == 5);

  const auto empty = test::scratch_dir("folder_empty");
  test::write_bytes(empty + "/readme.txt", "x");
  CHECK_THROWS_WITH(core::open_dataset(empty), Catch::Contains("no image files"));
  test::write_bytes(dir + "/broken.png", "not a png");
  auto with_broken = core::open_dataset(dir);  // a.png, b.png, broken.png
  CHECK_THROWS_WITH(with_broken->get(2), Catch::Contains("broken.png"));
}
