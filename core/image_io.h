#pragma once
// Image files and the uint8 <-> float conventions.
//
// On disk images are uint8. In memory fluxion uses float NCHW in [-1, 1]. Sample output is
// quantised with clamp(127.5 x + 128, 0, 255) truncated to uint8, exactly what SiT/DiT's
// sample_ddp.py does (it is round-half-up of 127.5 x + 127.5); ADM's image_sample.py instead
// floors (x + 1) * 127.5 -- available as Quantization::floor.
#include <torch/torch.h>

#include <string>

#include "core/image_limits.h"

namespace fluxion::core {

enum class Quantization { sit_round, adm_floor };

// PNG, JPEG, BMP, TGA... through stb_image. Returns uint8 (C, H, W) with C = 1 or 3 (`channels`
// 0 keeps the file's gray/RGB; 1 or 3 converts; alpha is dropped). Errors name the file.
torch::Tensor read_image(const std::string& path, int channels = 0);
// Same from bytes already in memory (`source` names them in errors). Images declaring more than
// `max_pixels` (at most kMaxImagePixels, core/image_limits.h) are refused before decoding.
torch::Tensor decode_image(const std::string& bytes, const std::string& source, int channels = 0,
                           int64_t max_pixels = kMaxImagePixels);

// Writes uint8 (C, H, W), C = 1 or 3, as an 8-bit gray or RGB PNG, atomically.
void write_png(const std::string& path, const torch::Tensor& image_u8);

// float [-1, 1] (..., C, H, W) -> uint8 with the chosen rule.
torch::Tensor to_uint8(const torch::Tensor& images, Quantization rule = Quantization::sit_round);
// uint8 -> float [-1, 1]: x / 127.5 - 1.
torch::Tensor from_uint8(const torch::Tensor& images_u8);

// Tiles uint8 (N, C, H, W) into one uint8 (C, rows*(H+pad) + pad, cols*(W+pad) + pad) image
// (torchvision's make_grid geometry) with `padding` pixels of `pad_value` between and around
// tiles, filled row by row. cols = 0 picks ceil(sqrt(N)); cols > N is reduced to N.
torch::Tensor make_grid(const torch::Tensor& images_u8, int cols = 0, int padding = 2, int pad_value = 0);

}  // namespace fluxion::core
