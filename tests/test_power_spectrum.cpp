#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "core/image_io.h"
#include "metrics/power_spectrum.h"
#include "test_helpers.h"

using namespace fluxion;

namespace {
// uint8 images of a horizontal cosine with `cycles` periods across 64 pixels
torch::Tensor cosine_images(int cycles, double amplitude) {
  auto x = torch::arange(64, torch::kDouble);
  auto row = 128.0 + amplitude * torch::cos(2.0 * M_PI * cycles * x / 64.0);
  return row.view({1, 1, 1, 64}).expand({2, 3, 64, 64}).round().to(torch::kUInt8).contiguous();
}
}  // namespace

TEST_CASE("radial power spectrum puts a cosine's energy at its frequency", "[unit][spectrum]") {
  const auto p = metrics::radial_power_spectrum(cosine_images(10, 60));
  CHECK(p.size(0) == std::llround(std::sqrt(2.0) * 32) + 1);  // bins 0 .. the corner
  // the Hann window spreads the peak over r +- 1 only
  CHECK(p.argmax().item<int64_t>() == 10);
  CHECK(p[10].item<double>() > 100 * p[20].item<double>());
  CHECK(p[0].item<double>() < 1e-3 * p[10].item<double>());  // means removed
}

TEST_CASE("spectral distance: 0 for equal spectra, ln 4 for double amplitude", "[unit][spectrum]") {
  const auto a = metrics::radial_power_spectrum(cosine_images(5, 30));
  const auto b = metrics::radial_power_spectrum(cosine_images(5, 30));
  CHECK(metrics::spectral_distance(a, b) == 0.0);
  const auto noise = torch::randint(0, 64, {4, 1, 32, 32}, torch::kLong).to(torch::kUInt8);
  const auto pn = metrics::radial_power_spectrum(noise);
  const auto pn2 = metrics::radial_power_spectrum((noise.to(torch::kLong) * 2).to(torch::kUInt8));
  CHECK(std::abs(metrics::spectral_distance(pn, pn2) - std::log(4.0)) < 1e-9);
  CHECK_THROWS_AS(metrics::spectral_distance(a, pn), Error);

  const auto dir = test::scratch_dir("spectrum_plot");
  metrics::write_spectrum_plot(dir + "/s.png", pn, pn2);
  const auto png = core::read_image(dir + "/s.png");
  CHECK(png.size(0) == 3);
  CHECK(png.size(2) == 640);
}
