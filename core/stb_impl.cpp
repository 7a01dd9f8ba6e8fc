// The one translation unit that compiles stb_image and stb_image_write. PNG compression goes
// through zlib (faster and smaller than stb's own deflate).
#include <zlib.h>

#include <cstdlib>

#include "core/image_limits.h"

namespace {
unsigned char* zlib_compress_for_stb(unsigned char* data, int data_len, int* out_len, int quality) {
  uLongf size = compressBound(static_cast<uLong>(data_len));
  auto* out = static_cast<unsigned char*>(std::malloc(size));  // stb frees it with free()
  if (!out) return nullptr;
  const int level = quality < 0 ? Z_DEFAULT_COMPRESSION : (quality > 9 ? 9 : quality);
  if (compress2(out, &size, data, static_cast<uLong>(data_len), level) != Z_OK) {
    std::free(out);
    return nullptr;
  }
  *out_len = static_cast<int>(size);
  return out;
}

// stb allocates what a file declares before checking that the data is there: a PNG chunk
// declaring 1.2 GB in an 87-byte file made it realloc 2 GB (fuzz_image). Requests beyond what any
// image within kMaxImagePixels needs fail as stb's own "out of memory" error instead.
void* stb_limited_malloc(size_t size) {
  return size <= fluxion::core::kMaxDecoderAllocation ? std::malloc(size) : nullptr;
}
void* stb_limited_realloc(void* old, size_t size) {
  return size <= fluxion::core::kMaxDecoderAllocation ? std::realloc(old, size) : nullptr;
}
}  // namespace

#define STBI_MALLOC stb_limited_malloc
#define STBI_REALLOC stb_limited_realloc
#define STBI_FREE std::free
#define STBIW_ZLIB_COMPRESS zlib_compress_for_stb
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_FAILURE_USERMSG
#include <stb_image.h>
#include <stb_image_write.h>
