#pragma once
// NumPy's legacy RandomState (MT19937, init_genrand seeding) just far enough to reproduce
// `RandomState(seed).permutation(n)` and `.choice(n, k, replace=False)`: the subsets that
// torch-fidelity's KID and IS draw with seed 2020, so fluxion's numbers can match theirs exactly.
#include <cstdint>
#include <vector>

namespace fluxion::metrics {

class NumpyRandomState {
 public:
  explicit NumpyRandomState(uint32_t seed);
  uint32_t next_uint32();
  // uniform integer in [0, max] by masked rejection (numpy's legacy random_interval)
  uint64_t interval(uint64_t max);
  std::vector<int64_t> permutation(int64_t n);
  // choice(n, k, replace=False) = permutation(n)[:k] in the legacy generator
  std::vector<int64_t> choice_without_replacement(int64_t n, int64_t k);

 private:
  uint32_t state_[624];
  int index_ = 624;
};

}  // namespace fluxion::metrics
