// Seeded epoch orders and this rank's slice of each global batch.
#include "core/batch_order.h"

#include "core/error.h"
#include "core/rng.h"

#include <algorithm>
#include <numeric>

namespace fluxion::core {

namespace {
// SplitMix64 stream: the order of an epoch must not depend on the LibTorch version.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, bound) without modulo bias (rejection of the short last interval).
  uint64_t below(uint64_t bound) {
    const uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
    uint64_t value;
    do value = next();
    while (value >= limit);
    return value % bound;
  }

 private:
  uint64_t state_;
};

std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t epoch, bool shuffle) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t(0));
  if (!shuffle) return order;
  SplitMix64 random(derive_seed(seed, static_cast<uint64_t>(epoch)));
  for (int64_t i = n - 1; i > 0; --i) std::swap(order[i], order[random.below(static_cast<uint64_t>(i + 1))]);
  return order;
}
}  // namespace

BatchOrder::BatchOrder(int64_t size, int64_t batch_size, uint64_t seed, bool shuffle, bool drop_last,
                       const std::string& what)
    : size_(size), batch_size_(batch_size), seed_(seed), shuffle_(shuffle), drop_last_(drop_last) {
  FLUXION_CHECK(batch_size > 0, "Batcher: batch size must be positive, got ", batch_size);
  FLUXION_CHECK(size > 0, "Batcher: ", what, " is empty");
  FLUXION_CHECK(!drop_last || size >= batch_size, "Batcher: batch size ", batch_size, " exceeds the ", size,
                " examples of ", what, " (with drop_last no batch could be formed)");
}

int64_t BatchOrder::epoch_length() const { return drop_last_ ? size_ / batch_size_ * batch_size_ : size_; }

const std::vector<int64_t>& BatchOrder::order_of(int64_t epoch) {
  if (epoch != cached_epoch_) {
    order_ = epoch_order(size_, seed_, epoch, shuffle_);
    cached_epoch_ = epoch;
  }
  return order_;
}

std::vector<int64_t> BatchOrder::next() {
  const int64_t length = epoch_length();
  const int64_t epoch = position_ / length, offset = position_ % length;
  const auto& order = order_of(epoch);
  const int64_t count = std::min(batch_size_, length - offset);
  // This rank's rows of the global batch (all of it without sharding).
  const int64_t begin = offset + count * rank_ / world_size_;
  const int64_t end = offset + count * (rank_ + 1) / world_size_;
  position_ += count;
  return std::vector<int64_t>(order.begin() + begin, order.begin() + end);
}

void BatchOrder::set_position(int64_t position) {
  FLUXION_CHECK(position >= 0, "Batcher: position must be non-negative, got ", position);
  position_ = position;
}

int64_t BatchOrder::batches_per_epoch() const {
  return drop_last_ ? size_ / batch_size_ : (size_ + batch_size_ - 1) / batch_size_;
}

int64_t BatchOrder::epoch() const { return position_ / epoch_length(); }

void BatchOrder::set_shard(int rank, int world_size) {
  FLUXION_CHECK(world_size >= 1 && rank >= 0 && rank < world_size, "Batcher: invalid shard rank ", rank,
                " of world size ", world_size);
  FLUXION_CHECK(batch_size_ % world_size == 0, "Batcher: global batch size ", batch_size_,
                " does not divide by world size ", world_size);
  rank_ = rank;
  world_size_ = world_size;
}

}  // namespace fluxion::core
