#include "core/image_io.h"

#include <stb_image.h>
#include <stb_image_write.h>

#include <climits>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"

namespace fluxion::core {

namespace {
// stb_image (Debian's 2022 snapshot) writes past its 257-entry Huffman size table when a JPEG's
// DHT segment declares more than 256 codes in one table (fuzz_image, UBSan index out of bounds).
// Such a file is corrupt; it is refused before stb sees it. Walks the marker segments as stb does
// (entropy-coded data between them included); a table counts as stb reads it, even when it runs
// past its segment, and bytes past the end read as zero (stb's get8 at the end of the data).
bool jpeg_huffman_tables_fit(const std::string& bytes) {
  const auto at = [&](size_t i) -> unsigned { return i < bytes.size() ? static_cast<unsigned char>(bytes[i]) : 0u; };
  // stb reads a marker as 0xFF, any number of fill bytes 0xFF, then the code: FF FF FF D8 starts
  // a JPEG as well as FF D8 does (a second fuzz_image input)
  size_t i = 1;
  while (at(0) == 0xFF && at(i) == 0xFF) ++i;
  if (at(0) != 0xFF || at(i) != 0xD8) return true;  // not a JPEG
  ++i;
  while (i + 1 < bytes.size()) {
    const unsigned marker = at(i + 1);
    if (at(i) != 0xFF || marker == 0xFF) {  // entropy-coded data, fill bytes
      ++i;
      continue;
    }
    if (marker == 0x00 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {  // stuffing, TEM, RSTn
      i += 2;
      continue;
    }
    if (marker == 0xD9) break;  // EOI
    const size_t length = (at(i + 2) << 8) | at(i + 3);
    if (marker == 0xC4) {  // DHT: tables of 1 + 16 counts + the codes
      for (size_t table = i + 4; table < i + 2 + length;) {
        unsigned codes = 0;
        for (size_t k = 1; k <= 16; ++k) codes += at(table + k);
        if (codes > 256) return false;
        table += 17 + codes;
      }
    }
    i += 2 + length;
  }
  return true;
}

// A binary PNM (P5 gray, P6 RGB) is checked before stb sees it, its header walked exactly as
// stb_image (Debian's 2022 snapshot) walks it: whitespace and # comments between the numbers,
// stb's get8 reading 0 at the end of the data without moving, the one byte after maxval
// consumed. Returns what is wrong, or "" (also for anything that is not a binary PNM).
// - stb reads the numbers into int with no overflow check (fuzz_image finding 11, UBSan signed
//   overflow on "P5777777777..."): more than 9 digits are refused.
// - maxval above 255 sends stb down its 16-bit path, whose channel conversion reads past its
//   buffer (finding 12, ASan heap-buffer-overflow: stb converts the channels as 8-bit data, then
//   reads the result as 16-bit). fluxion's images are 8-bit, so maxval must be 1..255.
// - stb ignores a short read of the pixels and returns uninitialised memory as the image: the
//   pixels the header declares must all be in the file (and there must be some).
std::string pnm_header_problem(const std::string& bytes) {
  if (bytes.size() < 2 || bytes[0] != 'P' || (bytes[1] != '5' && bytes[1] != '6')) return "";
  size_t i = 2;
  const auto eof = [&] { return i >= bytes.size(); };
  const auto get8 = [&]() -> char { return eof() ? '\0' : bytes[i++]; };
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; };
  char c = get8();
  const auto skip_whitespace = [&] {
    for (;;) {
      while (!eof() && space(c)) c = get8();
      if (eof() || c != '#') break;
      while (!eof() && c != '\n' && c != '\r') c = get8();
    }
  };
  int64_t numbers[3] = {0, 0, 0};  // width, height, maxval
  for (int number = 0; number < 3; ++number) {
    skip_whitespace();
    int digits = 0;
    while (!eof() && c >= '0' && c <= '9') {
      if (++digits > 9) return "a header number of more than 9 digits";
      numbers[number] = numbers[number] * 10 + (c - '0');
      c = get8();
    }
  }
  const int64_t maxval = numbers[2];
  if (maxval > 255) return "maxval " + std::to_string(maxval) + " above 255; fluxion reads 8-bit PNM only";
  if (maxval == 0) return "maxval 0";
  if (numbers[0] == 0 || numbers[1] == 0)
    return "an image of " + std::to_string(numbers[0]) + "x" + std::to_string(numbers[1]) + " pixels";
  const int64_t declared = numbers[0] * numbers[1] * (bytes[1] == '6' ? 3 : 1);  // < 2^62
  const int64_t held = static_cast<int64_t>(bytes.size() - i);
  if (held < declared)
    return "truncated: the header declares " + std::to_string(numbers[0]) + "x" + std::to_string(numbers[1]) +
           " pixels, " + std::to_string(declared) + " bytes, the file holds " + std::to_string(held);
  return "";
}
}  // namespace

torch::Tensor decode_image(const std::string& bytes, const std::string& source, int channels, int64_t max_pixels) {
  FLUXION_CHECK(channels == 0 || channels == 1 || channels == 3, source, ": channels must be 0, 1 or 3, got ",
                channels);
  FLUXION_CHECK(bytes.size() <= static_cast<size_t>(INT_MAX), source, ": image file too large");
  FLUXION_CHECK(jpeg_huffman_tables_fit(bytes), source,
                ": cannot decode image (corrupt JPEG: a Huffman table declares more than 256 codes)");
  const std::string pnm_problem = pnm_header_problem(bytes);
  FLUXION_CHECK(pnm_problem.empty(), source, ": cannot decode image (corrupt PNM: ", pnm_problem, ")");
  const auto* data = reinterpret_cast<const stbi_uc*>(bytes.data());
  const int length = static_cast<int>(bytes.size());
  int width = 0, height = 0, file_channels = 0;
  FLUXION_CHECK(stbi_info_from_memory(data, length, &width, &height, &file_channels), source, ": cannot decode image (",
                stbi_failure_reason(), ")");
  FLUXION_CHECK(int64_t(width) * height <= max_pixels, source, ": image of ", width, "x", height,
                " pixels is larger than the ", max_pixels, " pixels fluxion decodes (corrupt header?)");
  // Gray (+alpha) stays gray, RGB(A) stays RGB; alpha is dropped either way.
  const int wanted = channels != 0 ? channels : (file_channels <= 2 ? 1 : 3);
  // stb converts 16-bit PNGs to 8 bits (value >> 8) in stbi_load_from_memory.
  std::unique_ptr<stbi_uc, void (*)(void*)> pixels(
      stbi_load_from_memory(data, length, &width, &height, &file_channels, wanted), stbi_image_free);
  FLUXION_CHECK(pixels != nullptr, source, ": cannot decode image (", stbi_failure_reason(), ")");
  // (H, W, C) interleaved -> (C, H, W); clone, not contiguous(): for C = 1 the permuted view
  // already counts as contiguous and would keep pointing into stb's buffer.
  auto hwc = torch::from_blob(pixels.get(), {height, width, wanted}, torch::kUInt8);
  return hwc.permute({2, 0, 1}).clone(at::MemoryFormat::Contiguous);
}

torch::Tensor read_image(const std::string& path, int channels) {
  std::ifstream in(path, std::ios::binary);
  FLUXION_CHECK(std::filesystem::is_regular_file(path) && in.good(), path, ": cannot open (missing or not a file)");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return decode_image(buffer.str(), path, channels);
}

void write_png(const std::string& path, const torch::Tensor& image_u8) {
  FLUXION_CHECK(image_u8.dim() == 3 && (image_u8.size(0) == 1 || image_u8.size(0) == 3), path,
                ": write_png needs a (C, H, W) image with C = 1 or 3, got ", image_u8.sizes());
  FLUXION_CHECK(image_u8.scalar_type() == torch::kUInt8, path, ": write_png needs uint8, got ", image_u8.scalar_type());
  FLUXION_CHECK(
      image_u8.size(1) > 0 && image_u8.size(2) > 0 && image_u8.size(1) < INT_MAX / 4 && image_u8.size(2) < INT_MAX / 4,
      path, ": cannot write an image of size ", image_u8.sizes());
  // (C, H, W) -> (H, W, C), interleaved as PNG stores it
  const auto hwc = image_u8.detach().to(torch::kCPU).permute({1, 2, 0}).contiguous();
  const int height = static_cast<int>(hwc.size(0)), width = static_cast<int>(hwc.size(1));
  const int channels = static_cast<int>(hwc.size(2));
  std::string png;
  auto append = [](void* context, void* data, int size) {
    static_cast<std::string*>(context)->append(static_cast<const char*>(data), size);
  };
  FLUXION_CHECK(stbi_write_png_to_func(append, &png, width, height, channels, hwc.data_ptr(), width * channels) != 0,
                path, ": PNG encoding failed");
  write_file_atomically(path,
                        [&](std::ostream& out) { out.write(png.data(), static_cast<std::streamsize>(png.size())); });
}

torch::Tensor to_uint8(const torch::Tensor& images, Quantization rule) {
  // Reduced-precision inputs are widened so the rounding matches the float32 reference scripts.
  auto x = images.detach();
  if (!x.is_floating_point() || x.element_size() < 4) x = x.to(torch::kFloat);
  if (rule == Quantization::sit_round) return (127.5 * x + 128.0).clamp(0, 255).to(torch::kUInt8);
  return ((x + 1.0) * 127.5).clamp(0, 255).to(torch::kUInt8);
}

torch::Tensor from_uint8(const torch::Tensor& images_u8) { return images_u8.to(torch::kFloat) / 127.5 - 1.0; }

}  // namespace fluxion::core
