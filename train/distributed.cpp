// c10d process groups (Gloo, NCCL) from the launcher's environment, and bucketed gradient
// averaging that overlaps with backward. See distributed.h.
#include "train/distributed.h"

#include <algorithm>
#include <cstdlib>
#include <exception>
#include <mutex>

#include "core/device.h"
#include "core/error.h"
#include "core/log.h"

#if FLUXION_HAVE_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#if FLUXION_HAVE_NCCL
#ifndef USE_C10D_NCCL
#define USE_C10D_NCCL
#endif
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#if FLUXION_HAVE_GLOO || FLUXION_HAVE_NCCL
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif

namespace fluxion::train {

namespace {

// An integer environment variable, or `fallback` when unset; malformed values are errors.
int env_int(const char* name, int fallback) {
  const char* text = std::getenv(name);
  if (!text || !*text) return fallback;
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  FLUXION_CHECK(end && *end == '\0' && value >= 0 && value < (1L << 30), "environment variable ", name, "='", text,
                "' is not a non-negative integer");
  return static_cast<int>(value);
}

bool env_set(const char* name) {
  const char* text = std::getenv(name);
  return text && *text;
}

// The first line of an exception's message (c10::Error carries a backtrace after it).
std::string first_line(const std::exception& e) {
  std::string what;
  if (const auto* c10 = dynamic_cast<const c10::Error*>(&e)) {
    what = c10->what_without_backtrace();
  } else {
    what = e.what();
  }
  const auto newline = what.find('\n');
  return newline == std::string::npos ? what : what.substr(0, newline);
}

}  // namespace

DistEnv dist_env_from_environment() {
  DistEnv env;
  if (env_set("WORLD_SIZE")) {
    env.source = "torchrun";
    env.world_size = env_int("WORLD_SIZE", 1);
    env.rank = env_int("RANK", 0);
    env.local_rank = env_int("LOCAL_RANK", env.rank);
  } else if (env_set("SLURM_NTASKS") && env_set("SLURM_PROCID")) {
    env.source = "slurm";
    env.world_size = env_int("SLURM_NTASKS", 1);
    env.rank = env_int("SLURM_PROCID", 0);
    env.local_rank = env_int("SLURM_LOCALID", 0);
  }
  FLUXION_CHECK(env.world_size >= 1 && env.rank < env.world_size, "distributed environment (", env.source, "): rank ",
                env.rank, " is not below the world size ", env.world_size);
  if (env_set("MASTER_ADDR")) env.master_addr = std::getenv("MASTER_ADDR");
  env.master_port = env_int("MASTER_PORT", env.master_port);
  FLUXION_CHECK(env.master_port > 0 && env.master_port < 65536, "MASTER_PORT ", env.master_port, " is not a TCP port");
  const int bucket_mb = env_int("FLUXION_DIST_BUCKET_MB", 25);
  FLUXION_CHECK(bucket_mb > 0, "FLUXION_DIST_BUCKET_MB must be a positive number of MiB");
  env.bucket_bytes = int64_t{bucket_mb} << 20;
  env.force_group = env_int("FLUXION_DIST_FORCE", 0) > 0;
  const int timeout_s = env_int("FLUXION_DIST_TIMEOUT", 600);
  FLUXION_CHECK(timeout_s > 0, "FLUXION_DIST_TIMEOUT must be a positive number of seconds");
  env.timeout = std::chrono::milliseconds(int64_t{timeout_s} * 1000);
  return env;
}

bool distributed_backend_available(const torch::Device& device) {
#if FLUXION_HAVE_NCCL
  if (device.is_cuda()) return true;
#endif
#if FLUXION_HAVE_GLOO
  if (device.is_cpu()) return true;
#endif
  (void)device;
  return false;
}

BatchShard batch_shard(int64_t global_size, int rank, int world_size) {
  BatchShard s;
  s.global_size = global_size;
  s.begin = global_size * rank / world_size;
  s.size = global_size * (rank + 1) / world_size - s.begin;
  return s;
}

// ---- process group -------------------------------------------------------------------------

#if FLUXION_HAVE_GLOO || FLUXION_HAVE_NCCL

// The collectives fluxion uses, over Gloo or NCCL (in LibTorch 1.13 these are ProcessGroups,
// in 2.x Backends; the calls are the same).
struct ProcessGroup::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  std::function<c10::intrusive_ptr<c10d::Work>(std::vector<at::Tensor>&)> allreduce;
  std::function<c10::intrusive_ptr<c10d::Work>(std::vector<at::Tensor>&, int)> broadcast;
  std::function<c10::intrusive_ptr<c10d::Work>(std::vector<std::vector<at::Tensor>>&, std::vector<at::Tensor>&, int)>
      gather;
  std::function<c10::intrusive_ptr<c10d::Work>()> barrier;
  std::string backend;
};

namespace {
template <class Group>
void bind(ProcessGroup::Impl& impl, c10::intrusive_ptr<Group> group) {
  impl.allreduce = [group](std::vector<at::Tensor>& t) {
    c10d::AllreduceOptions options;
    options.reduceOp = c10d::ReduceOp::SUM;
    return group->allreduce(t, options);
  };
  impl.broadcast = [group](std::vector<at::Tensor>& t, int root) {
    c10d::BroadcastOptions options;
    options.rootRank = root;
    return group->broadcast(t, options);
  };
  impl.gather = [group](std::vector<std::vector<at::Tensor>>& outputs, std::vector<at::Tensor>& inputs, int root) {
    c10d::GatherOptions options;
    options.rootRank = root;
    return group->gather(outputs, inputs, options);
  };
  impl.barrier = [group] { return group->barrier(c10d::BarrierOptions()); };
}

class C10dWork : public ProcessGroup::Work {
 public:
  C10dWork(c10::intrusive_ptr<c10d::Work> work, const DistEnv& env, std::string what)
      : work_(std::move(work)), env_(env), what_(std::move(what)) {}
  void wait() override {
    bool done = false;
    try {
      done = work_->wait(env_.timeout);
    } catch (const std::exception& e) {
      fail(first_line(e));
    }
    if (!done) fail("timed out");
  }
  [[noreturn]] void fail(const std::string& cause) const {
    FLUXION_CHECK(false, "distributed: rank ", env_.rank, " of ", env_.world_size, ": ", what_,
                  " failed (another rank died, hung past FLUXION_DIST_TIMEOUT=", env_.timeout.count() / 1000,
                  " s, or was stopped): ", cause);
    std::abort();  // not reached
  }

 private:
  c10::intrusive_ptr<c10d::Work> work_;
  DistEnv env_;
  std::string what_;
};
}  // namespace

ProcessGroup::ProcessGroup(const DistEnv& env, const torch::Device& device)
    : env_(env), device_(device), impl_(std::make_unique<Impl>()) {
  FLUXION_CHECK(distributed_backend_available(device), "a data-parallel run on ", device.str(),
                " needs a c10d backend this build lacks (Gloo for CPU: Debian's libgloo-dev at build "
                "time; NCCL for CUDA)");
  const std::string where = env.master_addr + ":" + std::to_string(env.master_port);
  try {
    c10d::TCPStoreOptions options;
    options.port = static_cast<uint16_t>(env.master_port);
    options.isServer = env.rank == 0;
    options.numWorkers = static_cast<size_t>(env.world_size);
    options.waitWorkers = true;
    options.timeout = env.timeout;
    impl_->store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, options);
  } catch (const std::exception& e) {
    FLUXION_CHECK(false, "distributed: rank ", env.rank, " of ", env.world_size, ": rendezvous at ", where, " failed (",
                  first_line(e), ")");
  }
  auto store = c10::make_intrusive<c10d::PrefixStore>("fluxion", impl_->store);
  try {
#if FLUXION_HAVE_NCCL
    if (device.is_cuda()) {
      auto options = c10d::ProcessGroupNCCL::Options::create();
      options->timeout = env.timeout;
      bind(*impl_, c10::make_intrusive<c10d::ProcessGroupNCCL>(store, env.rank, env.world_size, options));
      impl_->backend = "nccl";
    }
#endif
#if FLUXION_HAVE_GLOO
    if (device.is_cpu()) {
      auto options = c10d::ProcessGroupGloo::Options::create(env.timeout);
      const bool loopback = env.master_addr == "127.0.0.1" || env.master_addr == "localhost";
      if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname && *ifname) {
        options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
      } else if (loopback) {
        options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
      } else {
        options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      }
      options->threads = 2;
      bind(*impl_, c10::make_intrusive<c10d::ProcessGroupGloo>(store, env.rank, env.world_size, options));
      impl_->backend = "gloo";
    }
#endif
  } catch (const std::exception& e) {
    FLUXION_CHECK(false, "distributed: rank ", env.rank, " of ", env.world_size, ": joining the process group at ",
                  where, " failed (", first_line(e), ")");
  }
}

ProcessGroup::~ProcessGroup() = default;

std::unique_ptr<ProcessGroup::Work> ProcessGroup::allreduce_sum_async(torch::Tensor& tensor, const std::string& what) {
  std::vector<at::Tensor> tensors{tensor};
  try {
    return std::make_unique<C10dWork>(impl_->allreduce(tensors), env_, what);
  } catch (const fluxion::Error&) {
    throw;
  } catch (const std::exception& e) {
    C10dWork(c10::intrusive_ptr<c10d::Work>(), env_, what).fail(first_line(e));
  }
}

void ProcessGroup::allreduce_sum(torch::Tensor& tensor, const std::string& what) {
  allreduce_sum_async(tensor, what)->wait();
}

void ProcessGroup::broadcast(std::vector<torch::Tensor>& tensors, int root, const std::string& what) {
  for (auto& t : tensors) {
    std::vector<at::Tensor> one{t};
    try {
      C10dWork(impl_->broadcast(one, root), env_, what).wait();
    } catch (const fluxion::Error&) {
      throw;
    } catch (const std::exception& e) {
      C10dWork(c10::intrusive_ptr<c10d::Work>(), env_, what).fail(first_line(e));
    }
  }
}

void ProcessGroup::barrier(const std::string& what) {
  try {
    C10dWork(impl_->barrier(), env_, what).wait();
  } catch (const fluxion::Error&) {
    throw;
  } catch (const std::exception& e) {
    C10dWork(c10::intrusive_ptr<c10d::Work>(), env_, what).fail(first_line(e));
  }
}

torch::Tensor ProcessGroup::gather_rows(const torch::Tensor& local, const std::string& what) {
  FLUXION_CHECK(local.dim() >= 1, "distributed: ", what, ": rows of a tensor with at least one dimension");
  const int world = env_.world_size;
  auto counts = torch::zeros({world}, torch::kLong);
  counts[env_.rank] = local.size(0);
  sum(counts, what + " (row counts)");
  auto row_shape = local.sizes().vec();
  int64_t row_bytes = local.element_size();
  for (size_t d = 1; d < row_shape.size(); ++d) row_bytes *= row_shape[d];
  const int64_t chunk = std::max<int64_t>(1, (int64_t{64} << 20) / std::max<int64_t>(1, row_bytes));
  const int64_t most = counts.max().item<int64_t>();
  const bool root = env_.rank == 0;
  std::vector<std::vector<torch::Tensor>> parts(static_cast<size_t>(world));
  for (int64_t offset = 0; offset < most; offset += chunk) {
    const int64_t rows = std::min(chunk, most - offset);
    row_shape[0] = rows;
    // Every rank sends `rows` rows (zeros past its own): c10d's gather takes equal shapes.
    auto send = torch::zeros(row_shape, local.options());
    const int64_t mine = std::clamp<int64_t>(local.size(0) - offset, 0, rows);
    if (mine > 0) send.slice(0, 0, mine).copy_(local.slice(0, offset, offset + mine));
    std::vector<at::Tensor> inputs{send.to(device_)};
    std::vector<std::vector<at::Tensor>> outputs;
    if (root) {
      outputs.emplace_back();
      for (int r = 0; r < world; ++r) outputs[0].push_back(torch::empty_like(inputs[0]));
    }
    try {
      C10dWork(impl_->gather(outputs, inputs, 0), env_, what).wait();
    } catch (const fluxion::Error&) {
      throw;
    } catch (const std::exception& e) {
      C10dWork(c10::intrusive_ptr<c10d::Work>(), env_, what).fail(first_line(e));
    }
    if (!root) continue;
    for (int r = 0; r < world; ++r) {
      const int64_t valid = std::clamp<int64_t>(counts[r].item<int64_t>() - offset, 0, rows);
      if (valid > 0)
        parts[static_cast<size_t>(r)].push_back(outputs[0][static_cast<size_t>(r)].slice(0, 0, valid).cpu());
    }
  }
  if (!root) return {};
  std::vector<torch::Tensor> ordered;
  for (auto& rank_parts : parts)
    for (auto& part : rank_parts) ordered.push_back(std::move(part));
  row_shape[0] = 0;
  return ordered.empty() ? torch::empty(row_shape, local.options()) : torch::cat(ordered);
}

void ProcessGroup::sum(torch::Tensor& values, const std::string& what) {
  auto on_device = values.to(device_);
  allreduce_sum(on_device, what);
  values.copy_(on_device.cpu());
}

void ProcessGroup::share_from_root(torch::Tensor& values, const std::string& what) {
  std::vector<torch::Tensor> on_device{values.to(device_)};
  broadcast(on_device, 0, what);
  values.copy_(on_device[0].cpu());
}

#else  // no c10d backend in this build

struct ProcessGroup::Impl {};

ProcessGroup::ProcessGroup(const DistEnv& env, const torch::Device& device) : env_(env), device_(device) {
  FLUXION_CHECK(false, "a data-parallel run (WORLD_SIZE=", env.world_size, ") on ", device.str(),
                " needs a c10d backend this build lacks (Gloo for CPU: install Debian's libgloo-dev and "
                "reconfigure; NCCL for CUDA)");
}
ProcessGroup::~ProcessGroup() = default;
std::unique_ptr<ProcessGroup::Work> ProcessGroup::allreduce_sum_async(torch::Tensor&, const std::string&) {
  return nullptr;
}
void ProcessGroup::allreduce_sum(torch::Tensor&, const std::string&) {}
void ProcessGroup::broadcast(std::vector<torch::Tensor>&, int, const std::string&) {}
void ProcessGroup::barrier(const std::string&) {}
torch::Tensor ProcessGroup::gather_rows(const torch::Tensor& local, const std::string&) { return local; }
void ProcessGroup::sum(torch::Tensor&, const std::string&) {}
void ProcessGroup::share_from_root(torch::Tensor&, const std::string&) {}

#endif

CommandRanks join_command_ranks(const std::string& device_option, const std::string& command) {
  CommandRanks ranks;
  ranks.device = device_option;
  const auto env = dist_env_from_environment();
  if (!env.enabled()) return ranks;
  auto device = core::resolve_device(device_option);
  if (device.is_cuda() && !device.has_index())
    device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(env.local_rank));
  ranks.device = device.str();
  if (env.rank != 0 && !std::getenv("FLUXION_LOG")) core::set_log_level(core::LogLevel::warn);
  ranks.group = std::make_unique<ProcessGroup>(env, device);
  core::log_info("distributed: " + command + " split over " + std::to_string(env.world_size) + " ranks (" + env.source +
                 ")");
  return ranks;
}

// ---- gradient buckets ----------------------------------------------------------------------

struct GradientSync::Impl {
  struct Slot {
    torch::Tensor param;
    size_t bucket = 0;
    int64_t offset = 0;  // in the bucket's flat buffer
    bool ready = false;
  };
  struct Bucket {
    torch::Tensor flat;  // float32 on the parameters' device
    std::vector<size_t> slots;
    size_t pending = 0;  // slots not ready yet in this pass
    std::unique_ptr<ProcessGroup::Work> work;
  };
  ProcessGroup* group = nullptr;
  std::vector<Slot> slots;
  std::vector<Bucket> buckets;
  std::vector<unsigned> hooks;  // handles, removed with the GradientSync
  size_t next_launch = 0;       // buckets start in index order on every rank
  bool armed = false;
  std::mutex mutex;  // hooks of CUDA backward run on the device thread

  void launch_ready() {
    while (next_launch < buckets.size() && buckets[next_launch].pending == 0) {
      auto& b = buckets[next_launch];
      b.flat.div_(static_cast<double>(group->world_size()));
      b.work = group->allreduce_sum_async(b.flat, "gradient allreduce (bucket " + std::to_string(next_launch) + ")");
      ++next_launch;
    }
  }
  void fill(Slot& slot, const torch::Tensor& incoming) {
    torch::NoGradGuard no_grad;
    auto& b = buckets[slot.bucket];
    auto view = b.flat.narrow(0, slot.offset, slot.param.numel());
    // The complete gradient: earlier micro-batches' accumulation plus this pass's.
    if (incoming.defined()) {
      view.copy_(incoming.reshape(-1));
      if (slot.param.grad().defined()) view.add_(slot.param.grad().reshape(-1));
    } else if (slot.param.grad().defined()) {
      view.copy_(slot.param.grad().reshape(-1));
    } else {
      view.zero_();
    }
    slot.ready = true;
    --b.pending;
  }
};

GradientSync::GradientSync(ProcessGroup& group, std::vector<torch::Tensor> parameters, int64_t bucket_bytes)
    : impl_(std::make_unique<Impl>()) {
  auto& s = *impl_;
  s.group = &group;
  // Reverse order: backward produces the last layers' gradients first.
  int64_t filled = bucket_bytes;  // start a new bucket at the first parameter
  std::vector<int64_t> sizes;
  for (auto it = parameters.rbegin(); it != parameters.rend(); ++it) {
    const int64_t bytes = it->numel() * 4;
    if (filled + bytes > bucket_bytes && filled > 0) {
      s.buckets.emplace_back();
      sizes.push_back(0);
      filled = 0;
    }
    Impl::Slot slot;
    slot.param = *it;
    slot.bucket = s.buckets.size() - 1;
    slot.offset = sizes.back();
    sizes.back() += it->numel();
    filled += bytes;
    s.buckets.back().slots.push_back(s.slots.size());
    s.slots.push_back(slot);
  }
  for (size_t b = 0; b < s.buckets.size(); ++b) {
    const auto& first = s.slots[s.buckets[b].slots.front()].param;
    s.buckets[b].flat = torch::zeros({sizes[b]}, first.options().dtype(torch::kFloat));
  }
  for (size_t i = 0; i < s.slots.size(); ++i) {
    Impl* impl = impl_.get();
    s.hooks.push_back(s.slots[i].param.register_hook([impl, i](const torch::Tensor& grad) {
      std::lock_guard<std::mutex> lock(impl->mutex);
      if (!impl->armed) return;
      auto& slot = impl->slots[i];
      if (slot.ready) return;  // a second hook call in one pass (not expected)
      impl->fill(slot, grad);
      impl->launch_ready();
    }));
  }
}

GradientSync::~GradientSync() {
  for (size_t i = 0; i < impl_->hooks.size(); ++i) impl_->slots[i].param.remove_hook(impl_->hooks[i]);
}

size_t GradientSync::bucket_count() const { return impl_->buckets.size(); }

void GradientSync::arm() {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  auto& s = *impl_;
  for (auto& slot : s.slots) slot.ready = false;
  for (auto& b : s.buckets) {
    b.pending = b.slots.size();
    b.work.reset();
  }
  s.next_launch = 0;
  s.armed = true;
}

void GradientSync::finish() {
  auto& s = *impl_;
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    s.armed = false;
    // Parameters that received no gradient in this pass contribute what they hold (or zeros).
    for (auto& slot : s.slots)
      if (!slot.ready) s.fill(slot, torch::Tensor());
    s.launch_ready();
  }
  torch::NoGradGuard no_grad;
  for (auto& b : s.buckets) {
    b.work->wait();
    b.work.reset();
    for (size_t index : b.slots) {
      auto& slot = s.slots[index];
      auto mean = b.flat.narrow(0, slot.offset, slot.param.numel()).view(slot.param.sizes());
      if (slot.param.grad().defined()) {
        slot.param.mutable_grad().copy_(mean);
      } else {
        slot.param.mutable_grad() = mean.to(slot.param.dtype()).clone();
      }
    }
  }
}

torch::Tensor GradientSync::average(const torch::Tensor& value, const std::string& what) {
  auto mean = value.detach().to(torch::kFloat).clone();
  impl_->group->allreduce_sum(mean, what);
  return mean.div_(static_cast<double>(impl_->group->world_size()));
}

}  // namespace fluxion::train
