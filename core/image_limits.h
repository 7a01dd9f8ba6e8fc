#pragma once
// The largest image fluxion decodes, shared by core/image_io (the check on the header) and
// core/stb_impl.cpp (the cap on stb's allocations), which does not include torch.
#include <cstdint>

namespace fluxion::core {

// 8192 x 8192 pixels. stb decodes what the header declares even when the data runs out (a 46-byte
// TGA can unpack to 2 GB), so this is the guard against decompression bombs; fluxion's pipelines
// never need more.
constexpr int64_t kMaxImagePixels = int64_t(1) << 26;

// No allocation stb makes for an image within kMaxImagePixels needs more than 8 bytes (4 channels
// of 16 bits) per pixel, plus slack for the compressed data's buffers.
constexpr uint64_t kMaxDecoderAllocation = 8 * uint64_t(kMaxImagePixels) + (uint64_t(1) << 24);

}  // namespace fluxion::core
