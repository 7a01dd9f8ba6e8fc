// Image decoding through stb (PNG, JPEG, BMP, GIF, TGA, PNM), in memory, as 0, 1 and 3 channels.
#include "core/image_io.h"
#include "fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  const int channels = size > 0 ? (data[size - 1] % 3 == 2 ? 3 : data[size - 1] % 3) : 0;
  return fluxion::fuzz::expect_clean([&] { fluxion::core::decode_image(bytes, "fuzz.png", channels); });
}
