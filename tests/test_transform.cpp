#include <catch2/catch.hpp>

#include "core/dataset.h"
#include "core/dataset_sources.h"
#include "core/error.h"
#include "core/image_io.h"
#include "core/pil_resize.h"
#include "test_helpers.h"

#include <filesystem>

using namespace fluxion;

namespace {
torch::Tensor ramp(int64_t c, int64_t h, int64_t w) {
  return torch::arange(c * h * w, torch::kLong).remainder(251).to(torch::kByte).reshape({c, h, w});
}
core::ImageTransform with(int resize, int crop, int pad, int channels) {
  core::ImageTransform t;
  t.resize = resize;
  t.center_crop = crop;
  t.pad_to = pad;
  t.channels = channels;
  return t;
}
}  // namespace

TEST_CASE("zero padding 28 -> 32 centres the image", "[unit][transform]") {
  const auto image = ramp(1, 28, 28);
  const auto padded = core::transform_image(image, with(0, 0, 32, 0));
  REQUIRE(padded.sizes() == torch::IntArrayRef({1, 32, 32}));
  CHECK(torch::equal(padded.narrow(1, 2, 28).narrow(2, 2, 28), image));
  CHECK(padded.sum().item<int64_t>() == image.sum().item<int64_t>());  // border is zero
  // Odd padding puts the extra pixel at the bottom/right.
  const auto odd = core::transform_image(ramp(1, 3, 3), with(0, 0, 6, 0));
  CHECK(torch::equal(odd.narrow(1, 1, 3).narrow(2, 1, 3), ramp(1, 3, 3)));
  CHECK_THROWS_AS(core::transform_image(image, with(0, 0, 20, 0)), Error);
}

TEST_CASE("centre crop takes the middle square", "[unit][transform]") {
  const auto image = ramp(3, 5, 8);
  const auto cropped = core::transform_image(image, with(0, 4, 0, 0));
  REQUIRE(cropped.sizes() == torch::IntArrayRef({3, 4, 4}));
  CHECK(torch::equal(cropped, image.narrow(1, 0, 4).narrow(2, 2, 4)));  // (5-4)//2, (8-4)//2
  CHECK_THROWS_AS(core::transform_image(image, with(0, 6, 0, 0)), Error);
}

TEST_CASE("resize sets the shorter side and keeps the aspect", "[unit][transform]") {
  CHECK(core::transform_image(ramp(1, 20, 40), with(10, 0, 0, 0)).sizes() == torch::IntArrayRef({1, 10, 20}));
  CHECK(core::transform_image(ramp(3, 45, 30), with(20, 0, 0, 0)).sizes() == torch::IntArrayRef({3, 30, 20}));
  CHECK(core::transform_image(ramp(3, 45, 30), with(20, 16, 0, 0)).sizes() == torch::IntArrayRef({3, 16, 16}));
  // Upscaling too, and the same size is left untouched.
  CHECK(core::transform_image(ramp(1, 4, 6), with(8, 0, 0, 0)).sizes() == torch::IntArrayRef({1, 8, 12}));
  const auto same = ramp(1, 8, 8);
  CHECK(torch::equal(core::transform_image(same, with(8, 0, 0, 0)), same));

  // A constant image stays constant; antialiased downscaling averages fine stripes to grey
  // instead of aliasing them to black or white.
  const auto flat = torch::full({3, 64, 48}, 77, torch::kByte);
  CHECK(torch::equal(core::transform_image(flat, with(12, 0, 0, 0)), torch::full({3, 16, 12}, 77, torch::kByte)));
  auto stripes = torch::zeros({1, 64, 64}, torch::kByte);
  stripes.index_put_(
      {torch::indexing::Slice(), torch::indexing::Slice(), torch::indexing::Slice(0, torch::indexing::None, 2)}, 254);
  const auto small = core::transform_image(stripes, with(8, 0, 0, 0)).to(torch::kInt);
  // Interior pixels (away from the clamped border) are the stripe mean.
  CHECK(small.narrow(2, 1, 6).min().item<int>() >= 126);
  CHECK(small.narrow(2, 1, 6).max().item<int>() <= 128);
}

TEST_CASE("channel conversion gray <-> RGB", "[unit][transform]") {
  const auto gray = ramp(1, 4, 4);
  const auto rgb = core::transform_image(gray, with(0, 0, 0, 3));
  REQUIRE(rgb.sizes() == torch::IntArrayRef({3, 4, 4}));
  CHECK(torch::equal(rgb[0], gray[0]));
  CHECK(torch::equal(rgb[2], gray[0]));
  CHECK(torch::equal(core::transform_image(rgb, with(0, 0, 0, 1)), gray));  // luma of grey is grey

  auto red = torch::zeros({3, 1, 1}, torch::kByte);
  red[0] = 255;
  CHECK(core::transform_image(red, with(0, 0, 0, 1)).item<int>() == 76);  // round(0.299 * 255)
  CHECK_THROWS_AS(core::transform_image(gray, with(0, 0, 0, 2)), Error);
}

TEST_CASE("transformed datasets report the new shape", "[unit][transform]") {
  auto base = core::make_tensor_dataset(torch::stack({ramp(1, 28, 28), ramp(1, 28, 28)}), torch::tensor({1, 0}), "two");
  auto padded = core::transform_dataset(base, with(0, 0, 32, 3));
  CHECK(padded->channels() == 3);
  CHECK(padded->height() == 32);
  CHECK(padded->width() == 32);
  CHECK(padded->size() == 2);
  CHECK(padded->get(0).label == 1);
  CHECK(padded->get(1).image.sizes() == torch::IntArrayRef({3, 32, 32}));
  CHECK(core::transform_dataset(base, {}) == base);
  // Impossible transforms fail when the dataset is built, not mid-run.
  CHECK_THROWS_AS(core::transform_dataset(base, with(0, 0, 16, 0)), Error);
}

TEST_CASE("ImageNet-style class folders with the ADM crop", "[unit][transform]") {
  // train/<wnid>/*.JPEG of mixed sizes, as ImageNet ships them
  const auto root = test::scratch_dir("imagenet_like");
  std::filesystem::create_directories(root + "/n01440764");
  std::filesystem::create_directories(root + "/n01443537");
  auto image = [](int64_t h, int64_t w, int seed) {
    torch::manual_seed(seed);
    return torch::randint(0, 256, {3, h, w}, torch::kUInt8);
  };
  const auto tench = image(75, 120, 1), goldfish = image(64, 50, 2);
  // PNG bytes under the JPEG name: stb reads by content, the folder lister by extension
  core::write_png(root + "/n01440764/n01440764_10026.JPEG", tench);
  core::write_png(root + "/n01443537/n01443537_1000.JPEG", goldfish);
  core::ImageTransform adm;
  adm.adm_crop = 32;
  auto ds = core::open_dataset(root, adm);
  REQUIRE(ds->size() == 2);
  CHECK(ds->num_classes() == 2);
  CHECK(ds->height() == 32);
  CHECK(ds->width() == 32);
  auto first = ds->get(0);
  CHECK(first.label == 0);
  CHECK(torch::equal(first.image, core::adm_center_crop(tench, 32)));
  CHECK(torch::equal(ds->get(1).image, core::adm_center_crop(goldfish, 32)));

  core::ImageTransform both = adm;
  both.resize = 32;
  CHECK_THROWS_WITH(core::transform_image(tench, both), Catch::Contains("replaces resize"));
}
