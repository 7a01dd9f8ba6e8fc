#include "core/rank_group.h"

#include <algorithm>

namespace fluxion::core {

RowRange rank_rows(int64_t rows, int64_t batch, const RankGroup* group) {
  if (group == nullptr) return {0, rows};
  const int64_t batches = (rows + batch - 1) / batch, rank = group->rank(), world = group->world_size();
  return {std::min(rows, batches * rank / world * batch), std::min(rows, batches * (rank + 1) / world * batch)};
}

}  // namespace fluxion::core
