#pragma once
// The processes of a data-parallel launch (fluxion launch, torchrun, srun), as the commands that
// split their work among them see it. `fluxion sample`, `stats` and `encode` hand each rank a
// contiguous run of the batches a single process would make, in the same sizes, so every batch
// computes exactly what it computes alone; rank 0 gathers the rows in rank order and writes the
// files, which are then byte-identical to a single process's.
//
// The implementation is train::ProcessGroup (c10d Gloo or NCCL); this interface keeps the
// libraries below train/ free of c10d. A null RankGroup* means one process.
#include <torch/torch.h>

#include <cstdint>
#include <string>

namespace fluxion::core {

class RankGroup {
 public:
  virtual ~RankGroup() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  // Every rank's rows concatenated in rank order, on rank 0 (CPU); an undefined tensor on the
  // other ranks. All ranks pass CPU tensors of one dtype and one trailing shape; their row counts
  // may differ, zero included.
  virtual torch::Tensor gather_rows(const torch::Tensor& local, const std::string& what) = 0;
  // Sum over ranks of int64 CPU values, in place.
  virtual void sum(torch::Tensor& values, const std::string& what) = 0;
  // Rank 0's int64 CPU values into every rank's, in place.
  virtual void share_from_root(torch::Tensor& values, const std::string& what) = 0;
};

// Rows [begin, end) of `rows` items in batches of `batch` that this rank takes: a contiguous run
// of whole batches in rank order, the numbers of batches differing by at most one (a null group:
// every row).
struct RowRange {
  int64_t begin = 0;
  int64_t end = 0;
};
RowRange rank_rows(int64_t rows, int64_t batch, const RankGroup* group);

inline bool is_root(const RankGroup* group) { return group == nullptr || group->rank() == 0; }

}  // namespace fluxion::core
