#pragma once
// Stand-in for the CUDA toolkit's bfloat16 header in the CPU emulation of fluxion's kernels: the
// type and the two conversions the kernels use, rounding as the device (and LibTorch) does.
#include <cstdint>
#include <cstring>

#include "emulated_cuda.h"

struct __nv_bfloat16 {
  uint16_t bits;
};

inline float __bfloat162float(__nv_bfloat16 v) {
  const uint32_t word = static_cast<uint32_t>(v.bits) << 16;
  float f;
  std::memcpy(&f, &word, sizeof f);
  return f;
}

// round to nearest even; NaN stays a (quiet) NaN
inline __nv_bfloat16 __float2bfloat16(float f) {
  uint32_t word;
  std::memcpy(&word, &f, sizeof word);
  if ((word & 0x7fffffffu) > 0x7f800000u) return __nv_bfloat16{static_cast<uint16_t>((word >> 16) | 0x0040u)};
  word += 0x7fffu + ((word >> 16) & 1u);
  return __nv_bfloat16{static_cast<uint16_t>(word >> 16)};
}
