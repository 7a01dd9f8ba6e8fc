#include "objectives/sample_outputs.h"

#include <cstdio>
#include <filesystem>

#include "core/error.h"
#include "core/image_io.h"
#include "core/npz.h"

namespace fluxion::objectives {

namespace fs = std::filesystem;

std::string image_name(const std::string& dir, int64_t index, int64_t label) {
  char name[64];
  std::snprintf(name, sizeof(name), "/%06lld_%lld.png", static_cast<long long>(index), static_cast<long long>(label));
  return dir + name;
}

bool reuse_written_images(const std::string& dir, const torch::Tensor& labels, int64_t first, int64_t count,
                          torch::Tensor rows) {
  bool have_all = !dir.empty();
  for (int64_t i = first; i < first + count && have_all; ++i)
    have_all = fs::exists(image_name(dir, i, labels[i].item<int64_t>()));
  if (!have_all) return false;
  const int64_t channels = rows.size(1), size = rows.size(2);
  for (int64_t i = first; i < first + count; ++i) {
    auto image = core::read_image(image_name(dir, i, labels[i].item<int64_t>()), static_cast<int>(channels));
    FLUXION_CHECK(image.size(1) == size && image.size(2) == size, dir, ": existing image ", i,
                  " has another size; use an empty --out");
    rows[i - first].copy_(image);
  }
  return true;
}

void write_image_files(const std::string& dir, const torch::Tensor& labels, int64_t first, const torch::Tensor& images,
                       bool only_missing) {
  if (dir.empty()) return;
  for (int64_t i = 0; i < images.size(0); ++i) {
    const auto path = image_name(dir, first + i, labels[first + i].item<int64_t>());
    if (!only_missing || !fs::exists(path)) core::write_png(path, images[i]);
  }
}

void write_image_collections(const std::string& grid, int64_t grid_images, const std::string& npz,
                             const torch::Tensor& all, const torch::Tensor& labels) {
  const int64_t n = all.size(0);
  if (!grid.empty()) {
    const int64_t g = std::min(grid_images, n);
    core::write_png(grid, core::make_grid(all.slice(0, 0, g)));
  }
  if (!npz.empty()) {
    // (N, C, H, W) -> (N, H, W, C), gray expanded to RGB as ADM's evaluator expects 3 channels
    auto nhwc = all.permute({0, 2, 3, 1}).contiguous();
    if (all.size(1) == 1) nhwc = nhwc.expand({n, all.size(2), all.size(3), 3}).contiguous();
    core::save_npz(npz, {{"arr_0", nhwc}, {"arr_1", labels}});
  }
}

}  // namespace fluxion::objectives
