#include <catch2/catch.hpp>

#include "core/dataset.h"
#include "core/error.h"
#include "core/npz.h"
#include "test_helpers.h"

using namespace fluxion;

TEST_CASE("ADM npz: arr_0 NHWC images and arr_1 labels", "[unit][dataset]") {
  const auto dir = test::scratch_dir("npz_dataset");
  auto nhwc = torch::randint(0, 256, {5, 4, 6, 3}, torch::kLong).to(torch::kByte);
  const auto labels = torch::tensor({3, 1, 4, 1, 5}, torch::kInt);
  core::save_npz(dir + "/samples.npz", {{"arr_0", nhwc}, {"arr_1", labels}});
  auto ds = core::open_dataset(dir + "/samples.npz");
  CHECK(ds->size() == 5);
  CHECK(ds->channels() == 3);
  CHECK(ds->height() == 4);
  CHECK(ds->width() == 6);
  CHECK(ds->num_classes() == 6);
  CHECK(ds->get(2).label == 4);
  CHECK(torch::equal(ds->get(3).image, nhwc[3].permute({2, 0, 1})));  // (H, W, C) -> (C, H, W)

  core::save_npz(dir + "/ref.npz", {{"arr_0", nhwc.select(3, 0)}}, /*compress=*/true);
  auto gray = core::open_dataset(dir + "/ref.npz");
  CHECK(gray->channels() == 1);
  CHECK(gray->num_classes() == 0);
  CHECK(gray->get(0).label == -1);
  CHECK(torch::equal(gray->get(4).image[0], nhwc[4].select(2, 0)));
}

TEST_CASE("npz datasets with the wrong layout fail with the file named", "[unit][dataset]") {
  const auto dir = test::scratch_dir("npz_dataset_bad");
  core::save_npz(dir + "/float.npz", {{"arr_0", torch::zeros({2, 4, 4, 3})}});
  CHECK_THROWS_WITH(core::open_dataset(dir + "/float.npz"), Catch::Contains("float.npz") && Catch::Contains("uint8"));
  core::save_npz(dir + "/other.npz", {{"images", torch::zeros({2, 4, 4, 3}, torch::kByte)}});
  CHECK_THROWS_WITH(core::open_dataset(dir + "/other.npz"), Catch::Contains("arr_0"));
  core::save_npz(dir + "/labels.npz",
                 {{"arr_0", torch::zeros({2, 4, 4, 3}, torch::kByte)}, {"arr_1", torch::zeros({3}, torch::kLong)}});
  CHECK_THROWS_WITH(core::open_dataset(dir + "/labels.npz"), Catch::Contains("arr_1"));
  CHECK_THROWS_WITH(core::open_dataset(dir + "/missing.npz"), Catch::Contains("missing.npz"));
}
