#pragma once
// The frozen encoder phi of DRL finetuning (issue 11; drl_dale.md D(ii).2): the feature space in
// which the discriminator tells real images from the model's. Same networks and weights as
// `--features` of `fluxion eval` (metrics/features.h: fmnist[:W], fmnist-resnet[:W], dinov2[:W], inception[:W],
// inception-adm[:W]), but applied to float images in [-1, 1] without the uint8 rounding of the
// evaluation path, so that the reward is differentiable in the image (--algo reward-grad) and
// real images and samples go through exactly the same function. DINOv2's resize to 224 is
// PIL-style bicubic with antialiasing, without the rounding between its passes.
#include <torch/torch.h>

#include <memory>
#include <string>

namespace fluxion::train {

class FrozenEncoder {
 public:
  virtual ~FrozenEncoder() = default;
  // images (B, C, H, W) float in [-1, 1] (clamped) -> features (B, dim), differentiable in the
  // images; the weights are frozen.
  virtual torch::Tensor encode(const torch::Tensor& images) = 0;
  virtual int64_t dim() const = 0;
  virtual std::string describe() const = 0;
};

// Parses and loads `spec` (the --features syntax); an unknown name or a missing weights file is
// a one-line fluxion::Error.
std::unique_ptr<FrozenEncoder> make_frozen_encoder(const std::string& spec, const torch::Device& device);

// The encoder applied in chunks without gradients: (N, C, H, W) -> (N, dim) on the CPU.
torch::Tensor encode_all(FrozenEncoder& encoder, const torch::Tensor& images, int64_t chunk = 256);

}  // namespace fluxion::train
