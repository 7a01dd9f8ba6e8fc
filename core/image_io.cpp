#include "core/image_io.h"

#include <stb_image.h>
#include <stb_image_write.h>

#include <climits>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"

namespace fluxion::core {

torch::Tensor decode_image(const std::string& bytes, const std::string& source, int channels) {
  FLUXION_CHECK(channels == 0 || channels == 1 || channels == 3, source,
                ": channels must be 0, 1 or 3, got ", channels);
  FLUXION_CHECK(bytes.size() <= static_cast<size_t>(INT_MAX), source, ": image file too large");
  const auto* data = reinterpret_cast<const stbi_uc*>(bytes.data());
  const int length = static_cast<int>(bytes.size());
  int width = 0, height = 0, file_channels = 0;
  FLUXION_CHECK(stbi_info_from_memory(data, length, &width, &height, &file_channels), source,
                ": cannot decode image (", stbi_failure_reason(), ")");
  // Gray (+alpha) stays gray, RGB(A) stays RGB; alpha is dropped either way.
  const int wanted = channels != 0 ? channels : (file_channels <= 2 ? 1 : 3);
  // stb converts 16-bit PNGs to 8 bits (value >> 8) in stbi_load_from_memory.
  std::unique_ptr<stbi_uc, void (*)(void*)> pixels(
      stbi_load_from_memory(data, length, &width, &height, &file_channels, wanted),
      stbi_image_free);
  FLUXION_CHECK(pixels != nullptr, source, ": cannot decode image (", stbi_failure_reason(), ")");
  // (H, W, C) interleaved -> (C, H, W); clone, not contiguous(): for C = 1 the permuted view
  // already counts as contiguous and would keep pointing into stb's buffer.
  auto hwc = torch::from_blob(pixels.get(), {height, width, wanted}, torch::kUInt8);
  return hwc.permute({2, 0, 1}).clone(at::MemoryFormat::Contiguous);
}

torch::Tensor read_image(const std::string& path, int channels) {
  std::ifstream in(path, std::ios::binary);
  FLUXION_CHECK(std::filesystem::is_regular_file(path) && in.good(), path,
                ": cannot open (missing or not a file)");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return decode_image(buffer.str(), path, channels);
}

void write_png(const std::string& path, const torch::Tensor& image_u8) {
  FLUXION_CHECK(image_u8.dim() == 3 && (image_u8.size(0) == 1 || image_u8.size(0) == 3), path,
                ": write_png needs a (C, H, W) image with C = 1 or 3, got ", image_u8.sizes());
  FLUXION_CHECK(image_u8.scalar_type() == torch::kUInt8, path, ": write_png needs uint8, got ",
                image_u8.scalar_type());
  FLUXION_CHECK(image_u8.size(1) > 0 && image_u8.size(2) > 0 && image_u8.size(1) < INT_MAX / 4 &&
                    image_u8.size(2) < INT_MAX / 4,
                path, ": cannot write an image of size ", image_u8.sizes());
  // (C, H, W) -> (H, W, C), interleaved as PNG stores it
  const auto hwc = image_u8.detach().to(torch::kCPU).permute({1, 2, 0}).contiguous();
  const int height = static_cast<int>(hwc.size(0)), width = static_cast<int>(hwc.size(1));
  const int channels = static_cast<int>(hwc.size(2));
  std::string png;
  auto append = [](void* context, void* data, int size) {
    static_cast<std::string*>(context)->append(static_cast<const char*>(data), size);
  };
  FLUXION_CHECK(stbi_write_png_to_func(append, &png, width, height, channels, hwc.data_ptr(),
                                       width * channels) != 0,
                path, ": PNG encoding failed");
  write_file_atomically(path, [&](std::ostream& out) {
    out.write(png.data(), static_cast<std::streamsize>(png.size()));
  });
}

torch::Tensor to_uint8(const torch::Tensor& images, Quantization rule) {
  // Reduced-precision inputs are widened so the rounding matches the float32 reference scripts.
  auto x = images.detach();
  if (!x.is_floating_point() || x.element_size() < 4) x = x.to(torch::kFloat);
  if (rule == Quantization::sit_round) return (127.5 * x + 128.0).clamp(0, 255).to(torch::kUInt8);
  return ((x + 1.0) * 127.5).clamp(0, 255).to(torch::kUInt8);
}

torch::Tensor from_uint8(const torch::Tensor& images_u8) {
  return images_u8.to(torch::kFloat) / 127.5 - 1.0;
}

}  // namespace fluxion::core
