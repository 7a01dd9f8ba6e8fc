#pragma once
// FFTW through RAII plans. A plan owns its fftw(f)_plan and its aligned buffers; creating plans
// is serialised (FFTW's planner is not thread-safe), executing them is not.
#include <torch/torch.h>

#include <memory>

namespace fluxion::core {

// 2-D real-to-complex transform of (H, W) real input into (H, W/2 + 1) complex output, and the
// inverse (unnormalised, as FFTW: c2r(r2c(x)) = H*W*x). T = float or double.
template <typename T>
class FftPlan2d {
 public:
  FftPlan2d(int height, int width);
  ~FftPlan2d();
  FftPlan2d(const FftPlan2d&) = delete;
  FftPlan2d& operator=(const FftPlan2d&) = delete;

  // real (..., H, W) float/double -> complex (..., H, W/2+1); batches loop over leading dims.
  torch::Tensor forward(const torch::Tensor& real) const;
  // complex (..., H, W/2+1) -> real (..., H, W), unnormalised.
  torch::Tensor inverse(const torch::Tensor& spectrum) const;

  int height() const { return height_; }
  int width() const { return width_; }

 private:
  struct Impl;
  int height_, width_;
  std::unique_ptr<Impl> impl_;
};

extern template class FftPlan2d<float>;
extern template class FftPlan2d<double>;

}  // namespace fluxion::core
