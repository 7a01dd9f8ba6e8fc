#include "metrics/power_spectrum.h"

#include <cmath>

#include "core/error.h"
#include "core/fft.h"
#include "core/image_io.h"

namespace fluxion::metrics {

struct SpectrumAccumulator::Plan {
  Plan(int64_t h, int64_t w) : fft(static_cast<int>(h), static_cast<int>(w)), height(h), width(w) {}
  core::FftPlan2d<double> fft;
  int64_t height, width;
  torch::Tensor window;        // (H, W) Hann x Hann
  torch::Tensor multiplicity;  // (H * (W/2+1)): 2 for the half-plane columns that stand for two
};

SpectrumAccumulator::SpectrumAccumulator() = default;
SpectrumAccumulator::~SpectrumAccumulator() = default;

void SpectrumAccumulator::update(const torch::Tensor& images_u8) {
  FLUXION_CHECK(images_u8.dim() == 4, "power spectrum: images must be (B, C, H, W), got shape ", images_u8.sizes());
  const int64_t B = images_u8.size(0), C = images_u8.size(1), H = images_u8.size(2), W = images_u8.size(3);
  if (B == 0) return;
  if (!plan_) {
    FLUXION_CHECK(H >= 2 && W >= 2, "power spectrum: images of ", H, "x", W, " are too small");
    plan_ = std::make_shared<Plan>(H, W);
    const auto opts = torch::TensorOptions().dtype(torch::kDouble);
    plan_->window =
        torch::outer(torch::hann_window(H, /*periodic=*/false, opts), torch::hann_window(W, /*periodic=*/false, opts));
    const int64_t half = W / 2 + 1;
    std::vector<int64_t> bins(static_cast<size_t>(H * half));
    std::vector<double> mult(bins.size());
    int64_t max_bin = 0;
    for (int64_t i = 0; i < H; ++i) {
      const double fy = static_cast<double>(i <= H / 2 ? i : i - H);
      for (int64_t j = 0; j < half; ++j) {
        const auto r = static_cast<int64_t>(std::llround(std::sqrt(fy * fy + double(j) * double(j))));
        bins[static_cast<size_t>(i * half + j)] = r;
        // columns 1 .. ceil(W/2)-1 also stand for their mirrored negative frequencies
        const bool unique = j == 0 || (W % 2 == 0 && j == W / 2);
        mult[static_cast<size_t>(i * half + j)] = unique ? 1.0 : 2.0;
        max_bin = std::max(max_bin, r);
      }
    }
    bins_ = torch::tensor(bins, torch::kLong);
    plan_->multiplicity = torch::tensor(mult, torch::kDouble);
    bin_weight_ = torch::zeros({max_bin + 1}, torch::kDouble).index_add_(0, bins_, plan_->multiplicity);
    sum_ = torch::zeros({max_bin + 1}, torch::kDouble);
  }
  FLUXION_CHECK(H == plan_->height && W == plan_->width, "power spectrum: image size ", H, "x", W,
                " differs from the first batch's ", plan_->height, "x", plan_->width);
  // (B, C, H, W) -> (B*C, H, W), zero mean, windowed
  auto x = images_u8.to(torch::kCPU, torch::kDouble).reshape({B * C, H, W}) / 255.0;
  x = (x - x.mean({1, 2}, /*keepdim=*/true)) * plan_->window;
  const auto spectrum = plan_->fft.forward(x.contiguous());  // (B*C, H, W/2+1) complex
  const auto power =
      torch::view_as_real(spectrum).pow(2).sum(-1).flatten(1) / static_cast<double>(H * W);  // (B*C, H*(W/2+1))
  auto rings = torch::zeros({B * C, sum_.size(0)}, torch::kDouble)
                   .index_add_(1, bins_, power * plan_->multiplicity.unsqueeze(0));
  rings = rings / bin_weight_.unsqueeze(0);
  // mean over channels, sum over images
  sum_ += rings.view({B, C, -1}).mean(1).sum(0);
  count_ += B;
}

torch::Tensor SpectrumAccumulator::mean() const {
  FLUXION_CHECK(count_ > 0, "power spectrum: no images were accumulated");
  return sum_ / static_cast<double>(count_);
}

torch::Tensor radial_power_spectrum(const torch::Tensor& images_u8) {
  SpectrumAccumulator acc;
  acc.update(images_u8);
  return acc.mean();
}

double spectral_distance(const torch::Tensor& reference, const torch::Tensor& samples) {
  FLUXION_CHECK(reference.dim() == 1 && reference.sizes() == samples.sizes() && reference.size(0) > 1,
                "spectral distance: spectra of shapes ", reference.sizes(), " and ", samples.sizes(),
                " differ (images of different sizes?)");
  const auto r = reference.to(torch::kDouble).narrow(0, 1, reference.size(0) - 1).clamp_min(1e-30);
  const auto s = samples.to(torch::kDouble).narrow(0, 1, samples.size(0) - 1).clamp_min(1e-30);
  return (s / r).log().abs().mean().item<double>();
}

namespace {
struct Canvas {
  int64_t width, height;
  torch::Tensor pixels;  // uint8 (3, H, W)
  Canvas(int64_t w, int64_t h) : width(w), height(h), pixels(torch::full({3, h, w}, 255, torch::kUInt8)) {}
  void dot(int64_t x, int64_t y, const std::array<uint8_t, 3>& rgb, int thickness = 1) {
    auto acc = pixels.accessor<uint8_t, 3>();
    for (int64_t dy = 0; dy < thickness; ++dy)
      for (int64_t dx = 0; dx < thickness; ++dx) {
        const int64_t px = x + dx, py = y + dy;
        if (px < 0 || py < 0 || px >= width || py >= height) continue;
        for (int c = 0; c < 3; ++c) acc[c][py][px] = rgb[static_cast<size_t>(c)];
      }
  }
  void line(double x0, double y0, double x1, double y1, const std::array<uint8_t, 3>& rgb, int thickness) {
    const int64_t steps =
        std::max<int64_t>(1, static_cast<int64_t>(std::ceil(std::max(std::abs(x1 - x0), std::abs(y1 - y0)))));
    for (int64_t i = 0; i <= steps; ++i) {
      const double t = static_cast<double>(i) / static_cast<double>(steps);
      dot(std::llround(x0 + t * (x1 - x0)), std::llround(y0 + t * (y1 - y0)), rgb, thickness);
    }
  }
};
}  // namespace

void write_spectrum_plot(const std::string& path, const torch::Tensor& reference, const torch::Tensor& samples) {
  FLUXION_CHECK(reference.dim() == 1 && reference.sizes() == samples.sizes() && reference.size(0) > 2,
                "spectrum plot: spectra of shapes ", reference.sizes(), " and ", samples.sizes());
  const int64_t bins = reference.size(0);
  const auto lr = reference.to(torch::kDouble).narrow(0, 1, bins - 1).clamp_min(1e-30).log10();
  const auto ls = samples.to(torch::kDouble).narrow(0, 1, bins - 1).clamp_min(1e-30).log10();
  const double lo = std::floor(std::min(lr.min().item<double>(), ls.min().item<double>()));
  const double hi = std::ceil(std::max(lr.max().item<double>(), ls.max().item<double>()));
  const double span = std::max(hi - lo, 1.0);
  Canvas canvas(640, 400);
  const double left = 40, right = 630, top = 10, bottom = 380;
  auto px = [&](double bin) { return left + (bin - 1.0) / static_cast<double>(bins - 2) * (right - left); };
  auto py = [&](double value) { return bottom - (value - lo) / span * (bottom - top); };
  const std::array<uint8_t, 3> grid{220, 220, 220}, axis{0, 0, 0}, blue{31, 119, 180}, red{214, 39, 40};
  for (double decade = lo; decade <= lo + span + 1e-9; decade += 1.0)
    canvas.line(left, py(decade), right, py(decade), grid, 1);
  for (int64_t b = 1; b < bins; b += std::max<int64_t>(1, (bins - 1) / 8))
    canvas.line(px(double(b)), top, px(double(b)), bottom, grid, 1);
  canvas.line(left, bottom, right, bottom, axis, 2);
  canvas.line(left, top, left, bottom, axis, 2);
  auto curve = [&](const torch::Tensor& values, const std::array<uint8_t, 3>& rgb) {
    auto v = values.accessor<double, 1>();
    for (int64_t i = 0; i + 1 < values.size(0); ++i)
      canvas.line(px(double(i + 1)), py(v[i]), px(double(i + 2)), py(v[i + 1]), rgb, 2);
  };
  curve(lr.contiguous(), blue);
  curve(ls.contiguous(), red);
  // legend swatches: blue = reference (upper), red = samples (lower)
  canvas.line(right - 40, top + 10, right - 10, top + 10, blue, 4);
  canvas.line(right - 40, top + 22, right - 10, top + 22, red, 4);
  core::write_png(path, canvas.pixels);
}

}  // namespace fluxion::metrics
