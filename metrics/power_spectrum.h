#pragma once
// Radially averaged power spectra of image sets (after Durall et al. and Schwarz et al.): each
// channel of each image, scaled to [0, 1] and with its mean removed, is multiplied by a 2-D Hann
// window, transformed with FFTW (r2c, double), and |F|^2 / (H W) is averaged over rings of
// integer radius round(sqrt(fx^2 + fy^2)); spectra are averaged over channels and images.
// Bin r covers frequency r / N cycles per pixel; bins run to the corner, round(sqrt(2) N/2).
#include <torch/torch.h>

#include <memory>
#include <string>

namespace fluxion::metrics {

class SpectrumAccumulator {
 public:
  SpectrumAccumulator();
  ~SpectrumAccumulator();
  // uint8 (B, C, H, W); every batch must have the same H and W
  void update(const torch::Tensor& images_u8);
  int64_t count() const { return count_; }
  torch::Tensor mean() const;  // float64 (R): the mean radial power spectrum

 private:
  struct Plan;
  std::shared_ptr<Plan> plan_;
  torch::Tensor sum_;                // float64 (R)
  torch::Tensor bins_, bin_weight_;  // (H * (W/2+1)) bin index, multiplicity; (R) ring sizes
  int64_t count_ = 0;
};

// Spectra of one image set in one call: uint8 (N, C, H, W) -> float64 (R).
torch::Tensor radial_power_spectrum(const torch::Tensor& images_u8);

// Mean |ln(P_samples / P_reference)| over bins 1..R-1 (the DC bin is excluded; the means were
// removed): 0 for identical spectra, ln 2 ~ 0.69 when the power differs by a factor 2 at every
// frequency.
double spectral_distance(const torch::Tensor& reference, const torch::Tensor& samples);

// Draws both spectra (log10 power against frequency) on one PNG: reference in blue, samples in
// red, with axes and a grid of decades.
void write_spectrum_plot(const std::string& path, const torch::Tensor& reference, const torch::Tensor& samples);

}  // namespace fluxion::metrics
