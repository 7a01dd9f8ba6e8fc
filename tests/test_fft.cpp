#include <catch2/catch.hpp>

#include <thread>

#include "core/error.h"
#include "core/fft.h"
#include "test_helpers.h"

using namespace fluxion;

namespace {
double relative_error(const torch::Tensor& got, const torch::Tensor& want) {
  return (got - want).abs().max().item<double>() / want.abs().max().item<double>();
}

template <typename T>
void check_against_torch(int64_t h, int64_t w, torch::ScalarType dtype, double tolerance) {
  INFO(h << "x" << w << " " << c10::toString(dtype));
  core::FftPlan2d<T> plan(h, w);
  const auto x = torch::randn({3, 2, h, w}, torch::TensorOptions().dtype(dtype));
  const auto spectrum = plan.forward(x);
  REQUIRE(spectrum.sizes() == torch::IntArrayRef({3, 2, h, w / 2 + 1}));
  const auto reference = torch::fft::rfft2(x);
  CHECK(spectrum.scalar_type() == reference.scalar_type());
  CHECK(relative_error(spectrum, reference) < tolerance);
  // Unnormalised inverse, as FFTW: irfft2 * H * W.
  const auto back = plan.inverse(spectrum);
  CHECK(back.scalar_type() == dtype);
  CHECK(relative_error(back, torch::fft::irfft2(reference, std::vector<int64_t>{h, w}) * double(h * w)) < tolerance);
  CHECK(relative_error(back / double(h * w), x) < tolerance);
  // The input spectrum is left alone (c2r destroys its input inside FFTW).
  CHECK(torch::equal(spectrum, plan.forward(x)));
}
}  // namespace

TEST_CASE("FFTW 2-D real transforms match torch::fft", "[unit][fft]") {
  torch::manual_seed(0);
  check_against_torch<float>(16, 20, torch::kFloat, 1e-5);
  check_against_torch<float>(15, 9, torch::kFloat, 1e-5);
  check_against_torch<double>(32, 32, torch::kDouble, 1e-12);
  check_against_torch<double>(7, 12, torch::kDouble, 1e-12);
  // A single (H, W) image and inputs of another dtype are accepted.
  core::FftPlan2d<double> plan(8, 6);
  const auto one = torch::randn({8, 6});
  CHECK(plan.forward(one).sizes() == torch::IntArrayRef({8, 4}));
  CHECK(relative_error(plan.forward(one), torch::fft::rfft2(one.to(torch::kDouble))) < 1e-12);
  // A constant image has all its energy at frequency 0.
  const auto dc = plan.forward(torch::ones({8, 6}, torch::kDouble));
  CHECK(std::abs(dc[0][0].item<c10::complex<double>>().real() - 48.0) < 1e-12);
  CHECK(dc.abs().sum().item<double>() == Approx(48.0).epsilon(1e-12));
  CHECK_THROWS_AS(plan.forward(torch::zeros({6, 8})), Error);
  CHECK_THROWS_AS(plan.inverse(torch::zeros({8, 4})), Error);
  CHECK_THROWS_AS(core::FftPlan2d<float>(0, 4), Error);
}

TEST_CASE("FFT plans can be made and run from several threads", "[unit][fft]") {
  const auto x = torch::randn({4, 24, 24});
  const auto reference = torch::fft::rfft2(x);
  std::vector<double> errors(6, 1.0);
  std::vector<std::thread> threads;
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&, i] {
      for (int round = 0; round < 5; ++round) {
        core::FftPlan2d<float> plan(24, 24);
        errors[i] = relative_error(plan.forward(x), reference);
      }
    });
  }
  for (auto& t : threads) t.join();
  for (double e : errors) CHECK(e < 1e-5);
}
