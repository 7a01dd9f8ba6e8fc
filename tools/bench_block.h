#pragma once
// Forward+backward timing of one SiT block per attention kind and token count (the linear vs
// softmax comparison behind `fluxion bench --what block`). A benchmark, not a test; part of the
// CLI, not of the shipped libraries.
#include <torch/torch.h>

#include <string>
#include <vector>

namespace fluxion::cli {

// The attention "kind" that times the block without token mixing (the floor; bench_block.cpp).
inline constexpr const char* kNoMixing = "none";

struct BlockBenchOptions {
  std::vector<std::string> attentions{"softmax", "linear"};
  std::vector<int64_t> tokens{256, 1024, 4096};
  int64_t dim = 1152;
  int64_t heads = 16;
  int64_t batch = 4;
  std::string device = "cpu";
  bool bf16 = false;  // run under bf16 autocast
  int warmup = 2;
  int iterations = 5;
  // A Chrome trace of `profile_iterations` more iterations of each (kind, tokens) after its timed
  // ones, written beside `profile` with the kind and token count in the name ("": none).
  std::string profile;
  int64_t profile_iterations = 3;
};

// Where the trace of one (kind, tokens) goes: "dir/trace.json" -> "dir/trace.linear-4096.json".
std::string block_profile_path(const std::string& profile, const std::string& attention, int64_t tokens);

struct BlockBenchRow {
  std::string attention;
  int64_t tokens = 0;
  double milliseconds = 0;  // mean forward+backward time per iteration
  std::string profile;      // its trace, when profiled
};

std::vector<BlockBenchRow> bench_block(const BlockBenchOptions& options);

// One row per token count, one ms column per attention kind, and kind/first-kind ratios.
std::string format_block_bench(const std::vector<BlockBenchRow>& rows);

}  // namespace fluxion::cli
