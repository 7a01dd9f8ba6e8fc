#pragma once
// The seeded order in which a training run visits N examples, batch by batch: batch b of epoch e
// is a deterministic function of (seed, e, b), so a resumed run continues the same order from
// `position`. The order of epoch e is a Fisher-Yates shuffle driven by SplitMix64 from
// derive_seed(seed, e) (our own, so that it is the same on every LibTorch version). With drop_last
// an epoch yields floor(N / batch) full batches and its remaining examples are skipped (not
// counted in position); otherwise the last batch of an epoch is smaller. Batches never span two
// epochs.
//
// Data parallel training: every rank builds the same order with the global batch size and calls
// set_shard(rank, world); next() then returns only that rank's contiguous slice of the global
// batch, while position() keeps counting global examples.
#include <cstdint>
#include <string>
#include <vector>

namespace fluxion::core {

class BatchOrder {
 public:
  // `what` names the examples in errors (a dataset's description).
  BatchOrder(int64_t size, int64_t batch_size, uint64_t seed, bool shuffle, bool drop_last, const std::string& what);
  // This rank's indices of the next global batch; advances position by the global batch.
  std::vector<int64_t> next();
  int64_t position() const { return position_; }
  void set_position(int64_t position);
  int64_t batches_per_epoch() const;
  int64_t epoch() const;                     // epoch of the next batch
  void set_shard(int rank, int world_size);  // batch_size must divide by world_size
  int64_t size() const { return size_; }

 private:
  int64_t epoch_length() const;  // examples one epoch contributes to position
  const std::vector<int64_t>& order_of(int64_t epoch);

  int64_t size_, batch_size_;
  uint64_t seed_;
  bool shuffle_, drop_last_;
  int rank_ = 0, world_size_ = 1;
  int64_t position_ = 0;
  int64_t cached_epoch_ = -1;
  std::vector<int64_t> order_;
};

}  // namespace fluxion::core
