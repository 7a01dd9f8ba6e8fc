#include "core/fft.h"

#include <fftw3.h>

#include <cstring>
#include <mutex>

#include "core/error.h"

namespace fluxion::core {

namespace {

// FFTW's planner (and plan destruction) share global state; executing plans is thread-safe.
std::mutex& planner_mutex() {
  static std::mutex mutex;
  return mutex;
}

template <typename T>
struct Fftw;

template <>
struct Fftw<float> {
  using Plan = fftwf_plan;
  using Complex = fftwf_complex;
  static constexpr auto real_dtype = torch::kFloat;
  static constexpr auto complex_dtype = torch::kComplexFloat;
  static void* alloc(size_t bytes) { return fftwf_malloc(bytes); }
  static void release(void* p) { fftwf_free(p); }
  static Plan plan_r2c(int h, int w, float* in, Complex* out) {
    return fftwf_plan_dft_r2c_2d(h, w, in, out, FFTW_ESTIMATE);
  }
  static Plan plan_c2r(int h, int w, Complex* in, float* out) {
    return fftwf_plan_dft_c2r_2d(h, w, in, out, FFTW_ESTIMATE);
  }
  static void r2c(Plan p, float* in, Complex* out) { fftwf_execute_dft_r2c(p, in, out); }
  static void c2r(Plan p, Complex* in, float* out) { fftwf_execute_dft_c2r(p, in, out); }
  static void destroy(Plan p) { fftwf_destroy_plan(p); }
};

template <>
struct Fftw<double> {
  using Plan = fftw_plan;
  using Complex = fftw_complex;
  static constexpr auto real_dtype = torch::kDouble;
  static constexpr auto complex_dtype = torch::kComplexDouble;
  static void* alloc(size_t bytes) { return fftw_malloc(bytes); }
  static void release(void* p) { fftw_free(p); }
  static Plan plan_r2c(int h, int w, double* in, Complex* out) {
    return fftw_plan_dft_r2c_2d(h, w, in, out, FFTW_ESTIMATE);
  }
  static Plan plan_c2r(int h, int w, Complex* in, double* out) {
    return fftw_plan_dft_c2r_2d(h, w, in, out, FFTW_ESTIMATE);
  }
  static void r2c(Plan p, double* in, Complex* out) { fftw_execute_dft_r2c(p, in, out); }
  static void c2r(Plan p, Complex* in, double* out) { fftw_execute_dft_c2r(p, in, out); }
  static void destroy(Plan p) { fftw_destroy_plan(p); }
};

// FFTW-aligned scratch memory, freed with the matching fftw(f)_free.
template <typename T>
struct AlignedBuffer {
  explicit AlignedBuffer(size_t bytes) : data(Fftw<T>::alloc(bytes)) {
    FLUXION_CHECK(data != nullptr, "FFT: cannot allocate ", bytes, " bytes");
  }
  ~AlignedBuffer() { Fftw<T>::release(data); }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  void* data;
};

}  // namespace

template <typename T>
struct FftPlan2d<T>::Impl {
  using F = Fftw<T>;
  size_t real_count, complex_count;
  typename F::Plan forward = nullptr, inverse = nullptr;

  Impl(int h, int w) : real_count(size_t(h) * size_t(w)), complex_count(size_t(h) * size_t(w / 2 + 1)) {
    // Plans are made on scratch buffers and later run on others of the same (FFTW) alignment.
    AlignedBuffer<T> real(real_count * sizeof(T));
    AlignedBuffer<T> spectrum(complex_count * sizeof(typename F::Complex));
    std::lock_guard<std::mutex> lock(planner_mutex());
    forward = F::plan_r2c(h, w, static_cast<T*>(real.data), static_cast<typename F::Complex*>(spectrum.data));
    inverse = F::plan_c2r(h, w, static_cast<typename F::Complex*>(spectrum.data), static_cast<T*>(real.data));
    if (!forward || !inverse) {
      if (forward) F::destroy(forward);
      if (inverse) F::destroy(inverse);
      fail("FFT: FFTW could not plan a ", h, "x", w, " transform");
    }
  }
  ~Impl() {
    std::lock_guard<std::mutex> lock(planner_mutex());
    F::destroy(forward);
    F::destroy(inverse);
  }
};

template <typename T>
FftPlan2d<T>::FftPlan2d(int height, int width) : height_(height), width_(width) {
  FLUXION_CHECK(height > 0 && width > 0, "FFT: plan size must be positive, got ", height, "x", width);
  impl_ = std::make_unique<Impl>(height, width);
}

template <typename T>
FftPlan2d<T>::~FftPlan2d() = default;

template <typename T>
torch::Tensor FftPlan2d<T>::forward(const torch::Tensor& real) const {
  using F = Fftw<T>;
  FLUXION_CHECK(real.dim() >= 2 && real.size(-2) == height_ && real.size(-1) == width_, "FFT: forward expects (..., ",
                height_, ", ", width_, "), got ", real.sizes());
  FLUXION_CHECK(!real.is_complex(), "FFT: forward expects a real tensor");
  const auto input = real.detach().to(torch::kCPU, F::real_dtype).contiguous();
  auto out_shape = real.sizes().vec();
  out_shape.back() = width_ / 2 + 1;
  auto output = torch::empty(out_shape, torch::TensorOptions().dtype(F::complex_dtype));
  const int64_t batches = input.numel() / static_cast<int64_t>(impl_->real_count);
  AlignedBuffer<T> in(impl_->real_count * sizeof(T));
  AlignedBuffer<T> out(impl_->complex_count * sizeof(typename F::Complex));
  const auto* src = input.template data_ptr<T>();
  auto* dst = reinterpret_cast<char*>(output.data_ptr());
  for (int64_t b = 0; b < batches; ++b) {
    std::memcpy(in.data, src + b * impl_->real_count, impl_->real_count * sizeof(T));
    F::r2c(impl_->forward, static_cast<T*>(in.data), static_cast<typename F::Complex*>(out.data));
    const size_t bytes = impl_->complex_count * sizeof(typename F::Complex);
    std::memcpy(dst + b * bytes, out.data, bytes);
  }
  return output.to(real.device());
}

template <typename T>
torch::Tensor FftPlan2d<T>::inverse(const torch::Tensor& spectrum) const {
  using F = Fftw<T>;
  FLUXION_CHECK(spectrum.dim() >= 2 && spectrum.size(-2) == height_ && spectrum.size(-1) == width_ / 2 + 1,
                "FFT: inverse expects (..., ", height_, ", ", width_ / 2 + 1, "), got ", spectrum.sizes());
  FLUXION_CHECK(spectrum.is_complex(), "FFT: inverse expects a complex tensor");
  const auto input = spectrum.detach().to(torch::kCPU, F::complex_dtype).contiguous();
  auto out_shape = spectrum.sizes().vec();
  out_shape.back() = width_;
  auto output = torch::empty(out_shape, torch::TensorOptions().dtype(F::real_dtype));
  const int64_t batches = input.numel() / static_cast<int64_t>(impl_->complex_count);
  // c2r overwrites its input, so every batch goes through a scratch copy.
  AlignedBuffer<T> in(impl_->complex_count * sizeof(typename F::Complex));
  AlignedBuffer<T> out(impl_->real_count * sizeof(T));
  const auto* src = reinterpret_cast<const char*>(input.data_ptr());
  auto* dst = output.template data_ptr<T>();
  const size_t bytes = impl_->complex_count * sizeof(typename F::Complex);
  for (int64_t b = 0; b < batches; ++b) {
    std::memcpy(in.data, src + b * bytes, bytes);
    F::c2r(impl_->inverse, static_cast<typename F::Complex*>(in.data), static_cast<T*>(out.data));
    std::memcpy(dst + b * impl_->real_count, out.data, impl_->real_count * sizeof(T));
  }
  return output.to(spectrum.device());
}

template class FftPlan2d<float>;
template class FftPlan2d<double>;

}  // namespace fluxion::core
