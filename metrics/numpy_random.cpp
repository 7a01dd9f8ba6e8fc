#include "metrics/numpy_random.h"

#include <numeric>
#include <utility>

#include "core/error.h"

namespace fluxion::metrics {

NumpyRandomState::NumpyRandomState(uint32_t seed) {
  state_[0] = seed;
  for (int i = 1; i < 624; ++i)
    state_[i] = 1812433253u * (state_[i - 1] ^ (state_[i - 1] >> 30)) + static_cast<uint32_t>(i);
  index_ = 624;
}

uint32_t NumpyRandomState::next_uint32() {
  if (index_ >= 624) {
    for (int i = 0; i < 624; ++i) {
      const uint32_t y = (state_[i] & 0x80000000u) | (state_[(i + 1) % 624] & 0x7fffffffu);
      state_[i] = state_[(i + 397) % 624] ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
    }
    index_ = 0;
  }
  uint32_t y = state_[index_++];
  y ^= y >> 11;
  y ^= (y << 7) & 0x9d2c5680u;
  y ^= (y << 15) & 0xefc60000u;
  y ^= y >> 18;
  return y;
}

uint64_t NumpyRandomState::interval(uint64_t max) {
  if (max == 0) return 0;
  uint64_t mask = max;
  for (int shift = 1; shift < 64; shift <<= 1) mask |= mask >> shift;
  uint64_t value;
  if (max <= 0xffffffffULL) {
    while ((value = (next_uint32() & mask)) > max) {
    }
  } else {
    while ((value = (((static_cast<uint64_t>(next_uint32()) << 32) | next_uint32()) & mask)) > max) {
    }
  }
  return value;
}

std::vector<int64_t> NumpyRandomState::permutation(int64_t n) {
  std::vector<int64_t> out(static_cast<size_t>(n));
  std::iota(out.begin(), out.end(), 0);
  // Fisher-Yates from the end, as RandomState.shuffle
  for (int64_t i = n - 1; i > 0; --i) {
    const auto j = static_cast<int64_t>(interval(static_cast<uint64_t>(i)));
    std::swap(out[static_cast<size_t>(i)], out[static_cast<size_t>(j)]);
  }
  return out;
}

std::vector<int64_t> NumpyRandomState::choice_without_replacement(int64_t n, int64_t k) {
  FLUXION_CHECK(k <= n, "random subset: cannot choose ", k, " of ", n, " without replacement");
  auto perm = permutation(n);
  perm.resize(static_cast<size_t>(k));
  return perm;
}

}  // namespace fluxion::metrics
