#pragma once
// Data-parallel training on LibTorch's own c10d: a process group from the launcher's environment
// and gradient averaging in buckets that overlap with the backward pass.
//
// Environment (torchrun's names; Slurm's as a fallback):
//   RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT
//   SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID (MASTER_ADDR/MASTER_PORT still needed, or
//   127.0.0.1:29500)
//   FLUXION_DIST_TIMEOUT   seconds a collective or the rendezvous may wait (default 600): a rank
//                          that dies or hangs makes the others fail with one line, not hang.
//   FLUXION_DIST_BUCKET_MB  size of the gradient buckets (default 25)
//   FLUXION_DIST_FORCE=1    a process group even for WORLD_SIZE 1 (checks a backend on one device)
// With WORLD_SIZE unset or 1 nothing here is used and training is exactly the single process.
//
// Backends: Gloo for CPU tensors (needs gloo's headers: Debian's libgloo-dev), NCCL for CUDA
// tensors where the LibTorch build has it (FLUXION_HAVE_NCCL, found by CMake). The rendezvous is
// a c10d TCPStore served by rank 0.
//
// Why not c10d's Reducer (reducer.hpp): its constructor and its ProcessGroup/Backend types
// changed between LibTorch 1.13 and 2.x, it expects Python DDP's call protocol
// (prepare_for_forward/backward, autograd hooks it installs through internal APIs), and its
// bucket assignment lives in Python-facing helpers. GradientSync below does the part fluxion
// needs with public API only (tensor hooks, ProcessGroup::allreduce), the same on both versions.
#include <torch/torch.h>

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/rank_group.h"

namespace fluxion::train {

struct DistEnv {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  std::chrono::milliseconds timeout{600000};
  int64_t bucket_bytes = 25 << 20;  // FLUXION_DIST_BUCKET_MB: gradient bucket size (default 25)
  std::string source = "none";      // "torchrun", "slurm" or "none"
  // FLUXION_DIST_FORCE=1: form the process group even for one rank, to check a backend (NCCL on
  // a single GPU) before a multi-GPU run; the work is the single process's.
  bool force_group = false;
  bool enabled() const { return world_size > 1 || force_group; }
};

// Reads the variables above; throws a fluxion::Error naming a malformed one.
DistEnv dist_env_from_environment();

// Whether this build can form a process group for tensors on `device`.
bool distributed_backend_available(const torch::Device& device);

// A c10d process group (Gloo or NCCL) joined through a TCPStore rendezvous. Every collective
// waits at most env.timeout; a failure (a peer died, timed out) throws a fluxion::Error whose
// one-line message names this rank, the operation and the cause. Collectives take tensors on
// `device` (CUDA for NCCL); the RankGroup calls take CPU tensors and move them.
class ProcessGroup : public core::RankGroup {
 public:
  ProcessGroup(const DistEnv& env, const torch::Device& device);
  ~ProcessGroup() override;
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int rank() const override { return env_.rank; }
  int world_size() const override { return env_.world_size; }
  // core::RankGroup: gathers in chunks of at most 64 MiB per rank, so a rank's send buffer on the
  // device stays small whatever the number of rows.
  torch::Tensor gather_rows(const torch::Tensor& local, const std::string& what) override;
  void sum(torch::Tensor& values, const std::string& what) override;
  void share_from_root(torch::Tensor& values, const std::string& what) override;
  const DistEnv& env() const { return env_; }

  // A pending collective; wait() throws as above.
  class Work {
   public:
    virtual ~Work() = default;
    virtual void wait() = 0;
  };
  // Sum over ranks, in place.
  std::unique_ptr<Work> allreduce_sum_async(torch::Tensor& tensor, const std::string& what);
  void allreduce_sum(torch::Tensor& tensor, const std::string& what);
  // Rank `root`'s values into every rank's tensors, in place.
  void broadcast(std::vector<torch::Tensor>& tensors, int root, const std::string& what);
  void barrier(const std::string& what);

  struct Impl;  // the backend (distributed.cpp)

 private:
  DistEnv env_;
  torch::Device device_;
  std::unique_ptr<Impl> impl_;
};

// A command that splits its work over the ranks of a launch (sample, stats, encode) joins them
// here: `group` is null for a single process. `device` is the command's --device resolved for
// this rank (auto or cuda without an index: cuda:LOCAL_RANK), to be passed on as its --device.
// Ranks other than 0 log warnings only (FLUXION_LOG overrides).
struct CommandRanks {
  std::unique_ptr<ProcessGroup> group;
  std::string device;
};
CommandRanks join_command_ranks(const std::string& device_option, const std::string& command);

// Averages the gradients of `parameters` over the ranks. Buckets of about `bucket_bytes` hold
// the parameters in reverse order (the order backward produces their gradients); during the
// armed backward pass each parameter's tensor hook copies its complete gradient (what earlier
// micro-batches accumulated plus this pass's) into its bucket, and a full bucket starts an
// asynchronous allreduce at once, in bucket order on every rank. finish() starts what is left
// (parameters without a gradient contribute zeros), waits, and writes the averages into .grad.
class GradientSync {
 public:
  GradientSync(ProcessGroup& group, std::vector<torch::Tensor> parameters, int64_t bucket_bytes = 25 * 1024 * 1024);
  ~GradientSync();
  GradientSync(const GradientSync&) = delete;
  GradientSync& operator=(const GradientSync&) = delete;

  void arm();     // before the last micro-batch's backward
  void finish();  // after it: every .grad holds the mean over ranks
  // The mean over ranks of a 0-dim tensor (the step's loss), returned as a new tensor.
  torch::Tensor average(const torch::Tensor& value, const std::string& what);
  size_t bucket_count() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Rows [begin, begin + size) of a global batch of global_size rows, which rank `rank` of
// `world_size` trains on (the Batcher's shard of the same global batch).
struct BatchShard {
  int64_t global_size = 0;
  int64_t begin = 0;
  int64_t size = 0;
  bool whole() const { return begin == 0 && size == global_size; }
};
BatchShard batch_shard(int64_t global_size, int rank, int world_size);

}  // namespace fluxion::train
