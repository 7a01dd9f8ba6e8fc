#include "core/pil_resize.h"

#include <algorithm>
#include <cfenv>
#include <cmath>
#include <vector>

#include "core/error.h"

namespace fluxion::core {

namespace {
constexpr int kPrecisionBits = 32 - 8 - 2;

double box_filter(double x) { return (x > -0.5 && x <= 0.5) ? 1.0 : 0.0; }
double bilinear_filter(double x) {
  x = std::fabs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}
double bicubic_filter(double x) {
  constexpr double a = -0.5;
  x = std::fabs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

// Per output index: the first input index, the count, and the fixed-point weights
// (precompute_coeffs + normalize_coeffs_8bpc).
struct Coefficients {
  std::vector<int> first, count;
  std::vector<int32_t> weights;  // out_size x kernel_size
  int kernel_size = 0;
};

Coefficients precompute(int in_size, int out_size, PilFilter filter) {
  double (*kernel)(double) = filter == PilFilter::box        ? box_filter
                             : filter == PilFilter::bilinear ? bilinear_filter
                                                             : bicubic_filter;
  const double base_support = filter == PilFilter::box ? 0.5 : filter == PilFilter::bilinear ? 1.0 : 2.0;
  const double scale = static_cast<double>(static_cast<float>(in_size) - 0.0f) / out_size;
  const double filterscale = std::max(scale, 1.0);
  const double support = base_support * filterscale;
  Coefficients c;
  c.kernel_size = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.first.resize(out_size);
  c.count.resize(out_size);
  c.weights.assign(static_cast<size_t>(out_size) * c.kernel_size, 0);
  std::vector<double> k(c.kernel_size);
  const double inv_filterscale = 1.0 / filterscale;
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double total = 0.0;
    for (int x = 0; x < xmax; ++x) {
      k[x] = kernel((x + xmin - center + 0.5) * inv_filterscale);
      total += k[x];
    }
    for (int x = 0; x < xmax; ++x) {
      const double w = total != 0.0 ? k[x] / total : k[x];
      c.weights[static_cast<size_t>(xx) * c.kernel_size + x] =
          w < 0 ? static_cast<int32_t>(-0.5 + w * (1 << kPrecisionBits))
                : static_cast<int32_t>(0.5 + w * (1 << kPrecisionBits));
    }
    c.first[xx] = xmin;
    c.count[xx] = xmax;
  }
  return c;
}

uint8_t clip8(int32_t sum) {
  const int32_t v = sum >> kPrecisionBits;
  return static_cast<uint8_t>(std::clamp(v, 0, 255));
}

// One pass along the last axis of a contiguous (rows, in_size) uint8 plane -> (rows, out_size).
void resample_rows(const uint8_t* in, int rows, int in_size, int in_stride, int element_stride, uint8_t* out,
                   int out_size, int out_stride, int out_element_stride, const Coefficients& c) {
  for (int r = 0; r < rows; ++r) {
    const uint8_t* line = in + static_cast<size_t>(r) * in_stride;
    uint8_t* line_out = out + static_cast<size_t>(r) * out_stride;
    for (int xx = 0; xx < out_size; ++xx) {
      const int32_t* w = &c.weights[static_cast<size_t>(xx) * c.kernel_size];
      int32_t sum = 1 << (kPrecisionBits - 1);
      for (int x = 0; x < c.count[xx]; ++x) sum += line[static_cast<size_t>(c.first[xx] + x) * element_stride] * w[x];
      line_out[static_cast<size_t>(xx) * out_element_stride] = clip8(sum);
    }
  }
}
}  // namespace

torch::Tensor pil_resize(const torch::Tensor& image_u8, int64_t height, int64_t width, PilFilter filter) {
  FLUXION_CHECK(image_u8.dim() == 3 && image_u8.scalar_type() == torch::kUInt8,
                "pil_resize: expected a uint8 (C, H, W) image, got ", image_u8.sizes(), " ", image_u8.scalar_type());
  FLUXION_CHECK(height > 0 && width > 0, "pil_resize: target size ", height, "x", width, " is empty");
  auto image = image_u8.to(torch::kCPU).contiguous();
  const int channels = static_cast<int>(image.size(0));
  const int in_h = static_cast<int>(image.size(1)), in_w = static_cast<int>(image.size(2));
  const int out_h = static_cast<int>(height), out_w = static_cast<int>(width);
  // Pillow skips a pass whose size does not change
  torch::Tensor wide = image;
  if (out_w != in_w) {
    auto c = precompute(in_w, out_w, filter);
    wide = torch::empty({channels, in_h, out_w}, torch::kUInt8);
    resample_rows(image.data_ptr<uint8_t>(), channels * in_h, in_w, in_w, 1, wide.data_ptr<uint8_t>(), out_w, out_w, 1,
                  c);
  }
  if (out_h == in_h) return wide;
  auto c = precompute(in_h, out_h, filter);
  auto out = torch::empty({channels, out_h, out_w}, torch::kUInt8);
  // the vertical pass: each column of each channel is a "row" with stride out_w
  for (int ch = 0; ch < channels; ++ch) {
    const uint8_t* plane = wide.data_ptr<uint8_t>() + static_cast<size_t>(ch) * in_h * out_w;
    uint8_t* plane_out = out.data_ptr<uint8_t>() + static_cast<size_t>(ch) * out_h * out_w;
    resample_rows(plane, out_w, in_h, 1, out_w, plane_out, out_h, 1, out_w, c);
  }
  return out;
}

torch::Tensor adm_center_crop(const torch::Tensor& image_u8, int64_t size) {
  FLUXION_CHECK(size > 0, "ADM centre crop: size must be positive");
  FLUXION_CHECK(image_u8.dim() == 3, "ADM centre crop: expected a (C, H, W) image, got ", image_u8.sizes());
  auto image = image_u8;
  while (std::min(image.size(1), image.size(2)) >= 2 * size) {
    image = pil_resize(image, image.size(1) / 2, image.size(2) / 2, PilFilter::box);
  }
  const double scale = static_cast<double>(size) / static_cast<double>(std::min(image.size(1), image.size(2)));
  // Python's round(): half to even, the default rounding mode of nearbyint
  const auto round_even = [](double v) {
    std::fesetround(FE_TONEAREST);
    return static_cast<int64_t>(std::nearbyint(v));
  };
  image = pil_resize(image, round_even(image.size(1) * scale), round_even(image.size(2) * scale), PilFilter::bicubic);
  const int64_t top = (image.size(1) - size) / 2, left = (image.size(2) - size) / 2;
  return image.slice(1, top, top + size).slice(2, left, left + size).contiguous();
}

}  // namespace fluxion::core
