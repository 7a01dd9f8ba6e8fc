// Image decoding through stb (PNG, JPEG, BMP, GIF, TGA, PNM), in memory, as 0, 1 and 3 channels.
#include "core/image_io.h"
#include "fuzz/fuzz_input.h"

// At most 64 x 64 pixels here (every decoder path is reached at that size: JPEG MCUs, PNG
// interlacing, GIF frames): the guard itself is core::kMaxImagePixels, but stb's pixel loops run
// ~30x slower under ASan and coverage tracing, and inputs of a few bytes that declare the largest
// allowed image (stb reads zeros past the data) held the target at 300 exec/s with 256 x 256.
constexpr int64_t kFuzzMaxPixels = int64_t(1) << 12;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  const int channels = size > 0 ? (data[size - 1] % 3 == 2 ? 3 : data[size - 1] % 3) : 0;
  return fluxion::fuzz::expect_clean([&] { fluxion::core::decode_image(bytes, "fuzz.png", channels, kFuzzMaxPixels); });
}
