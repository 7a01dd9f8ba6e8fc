#pragma once
// Pillow's Image.resize for uint8 images, bit for bit (libImaging/Resample.c): a separable filter
// whose support widens with the downscaling factor, coefficients normalised and rounded to 22-bit
// fixed point, a horizontal pass rounded to uint8, then a vertical pass rounded again. ADM's and
// SiT's ImageNet preprocessing (center_crop_arr) and dgm-eval's resizes are defined by it.
#include <torch/torch.h>

#include <cstdint>

namespace fluxion::core {

enum class PilFilter { box, bilinear, bicubic };

// uint8 (C, H, W) -> uint8 (C, height, width).
torch::Tensor pil_resize(const torch::Tensor& image_u8, int64_t height, int64_t width, PilFilter filter);

// ADM's center_crop_arr (guided_diffusion/image_datasets.py, also SiT's and REPA's train.py):
// halve with BOX while the shorter side is at least 2 * size, resize with BICUBIC so that the
// shorter side is `size` (the other side round()ed half to even, as Python does), then crop the
// centre (offsets floor((side - size) / 2)). uint8 (C, H, W) -> uint8 (C, size, size).
torch::Tensor adm_center_crop(const torch::Tensor& image_u8, int64_t size);

}  // namespace fluxion::core
