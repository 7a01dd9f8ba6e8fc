#include <cmath>

#include "core/error.h"
#include "core/image_io.h"

namespace fluxion::core {

torch::Tensor make_grid(const torch::Tensor& images_u8, int cols, int padding, int pad_value) {
  FLUXION_CHECK(images_u8.dim() == 4 && images_u8.size(0) > 0,
                "make_grid: expected (N, C, H, W) "
                "with N > 0, got ",
                images_u8.sizes());
  FLUXION_CHECK(cols >= 0 && padding >= 0 && pad_value >= 0 && pad_value <= 255, "make_grid: bad cols ", cols,
                ", padding ", padding, " or pad_value ", pad_value);
  const int64_t n = images_u8.size(0), c = images_u8.size(1);
  const int64_t h = images_u8.size(2), w = images_u8.size(3);
  const int64_t columns = cols > 0 ? std::min<int64_t>(cols, n) : static_cast<int64_t>(std::ceil(std::sqrt(double(n))));
  const int64_t rows = (n + columns - 1) / columns;
  auto grid = torch::full({c, rows * (h + padding) + padding, columns * (w + padding) + padding}, pad_value,
                          images_u8.options());
  for (int64_t i = 0; i < n; ++i) {
    const int64_t top = padding + (i / columns) * (h + padding);
    const int64_t left = padding + (i % columns) * (w + padding);
    grid.narrow(1, top, h).narrow(2, left, w).copy_(images_u8[i]);
  }
  return grid;
}

}  // namespace fluxion::core
