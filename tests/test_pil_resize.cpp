// Pillow's resize and ADM's centre crop (core/pil_resize.h) against Pillow itself:
// tests/golden/adm_crop.safetensors from tests/python/adm_crop_reference.py.
#include <catch2/catch.hpp>

#include "core/pil_resize.h"
#include "core/safetensors.h"
#include "test_helpers.h"

using namespace fluxion;

namespace {
core::TensorMap reference() {
  return core::load_safetensors(std::string(FLUXION_SOURCE_DIR) + "/tests/golden/adm_crop.safetensors");
}
// (H, W, C) <-> (C, H, W)
torch::Tensor chw(const torch::Tensor& hwc) { return hwc.permute({2, 0, 1}).contiguous(); }
}  // namespace

TEST_CASE("pil_resize equals Pillow's Image.resize bit for bit", "[golden]") {
  auto ref = reference();
  int checked = 0;
  for (const auto& [name, want] : ref) {
    if (name.rfind("resize.", 0) != 0) continue;
    // resize.<image>.<filter>.<h>x<w>
    auto parts = name.substr(7);
    auto image = parts.substr(0, parts.find('.'));
    auto rest = parts.substr(parts.find('.') + 1);
    auto filter_name = rest.substr(0, rest.find('.'));
    auto filter = filter_name == "box"        ? core::PilFilter::box
                  : filter_name == "bilinear" ? core::PilFilter::bilinear
                                              : core::PilFilter::bicubic;
    INFO(name);
    auto got = core::pil_resize(chw(ref.at("input." + image)), want.size(0), want.size(1), filter);
    CHECK(torch::equal(got, chw(want)));
    ++checked;
  }
  CHECK(checked == 33);
}

TEST_CASE("adm_center_crop equals ADM's center_crop_arr bit for bit", "[golden]") {
  auto ref = reference();
  int checked = 0;
  for (const auto& [name, want] : ref) {
    if (name.rfind("adm.", 0) != 0) continue;
    auto image = name.substr(4, name.rfind('.') - 4);
    auto size = std::stoll(name.substr(name.rfind('.') + 1));
    INFO(name);
    CHECK(torch::equal(core::adm_center_crop(chw(ref.at("input." + image)), size), chw(want)));
    ++checked;
  }
  CHECK(checked == 8);
}

TEST_CASE("pil_resize rejects what it cannot resize", "[unit]") {
  test::expect_one_line_error(
      [] {
        core::pil_resize(torch::zeros({3, 4, 4}), 2, 2, core::PilFilter::box);
      },
      {"expected a uint8 (C, H, W) image"});
  test::expect_one_line_error(
      [] {
        core::pil_resize(torch::zeros({3, 4, 4}, torch::kUInt8), 0, 2, core::PilFilter::box);
      },
      {"is empty"});
  // an unchanged size is a copy, as in Pillow
  auto image = torch::randint(0, 256, {3, 5, 7}, torch::kUInt8);
  CHECK(torch::equal(core::pil_resize(image, 5, 7, core::PilFilter::bicubic), image));
}
