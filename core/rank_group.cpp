#include "core/rank_group.h"

namespace fluxion::core {

BatchRange rank_batches(int64_t batches, const RankGroup* group) {
  if (group == nullptr) return {0, batches};
  const int64_t rank = group->rank(), world = group->world_size();
  return {batches * rank / world, batches * (rank + 1) / world};
}

}  // namespace fluxion::core
