#include "tools/bench_block.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <sstream>

#include "core/compat.h"
#include "core/error.h"
#include "core/profile_trace.h"
#include "models/norm_modulate.h"
#include "models/sit.h"

namespace fluxion::cli {

namespace {
// A square grid when N is a perfect square, otherwise one row of N tokens.
std::pair<int64_t, int64_t> token_grid(int64_t n) {
  const auto side = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(n))));
  if (side * side == n) return {side, side};
  return {1, n};
}

// The block without token mixing: SiTBlockImpl::forward's adaLN, norms, the attention module's
// qkv and output projections with v passed straight through, and the MLP. What any attention kind costs on top
// of it is its mixing; its time is the floor for this width and token count.
torch::Tensor block_without_mixing(models::SiTBlockImpl& block, const torch::Tensor& x, const torch::Tensor& c) {
  const int64_t C = x.size(2);
  // (B, D) -> (B, 6D) -> shift/scale/gate for attention and MLP
  auto m = models::adaln_forward(block.adaLN_modulation, c).chunk(6, 1);
  // (B, N, 3C) -> v (B, N, C)
  auto v = models::linear(block.attn->qkv, models::norm_modulate(x, m[0], m[1])).narrow(2, 2 * C, C);
  auto h = models::gated_residual(x, m[2], models::linear(block.attn->proj, v));
  return models::gated_residual(h, m[5], block.mlp->forward(models::norm_modulate(h, m[3], m[4])));
}

// Mean milliseconds per forward+backward; then, unless `profile` is "", a trace of more iterations.
double time_block(const std::string& attention, int64_t tokens, const BlockBenchOptions& o,
                  const std::string& profile) {
  const torch::Device device(o.device);
  const bool floor = attention == kNoMixing;
  models::AttentionOptions attn;
  attn.spec = models::parse_attention(floor ? "softmax" : attention);
  attn.num_tokens = tokens;
  std::tie(attn.grid_h, attn.grid_w) = token_grid(tokens);
  models::SiTBlock block(o.dim, o.heads, 4.0, attn);
  block->to(device);
  // adaLN is zero-initialised; give it weights so every branch does real work.
  {
    torch::NoGradGuard no_grad;
    for (auto& p : block->parameters()) p.normal_(0.0, 0.02);
  }
  auto x = torch::randn({o.batch, tokens, o.dim}, torch::TensorOptions().device(device)).requires_grad_(true);
  auto c = torch::randn({o.batch, o.dim}, torch::TensorOptions().device(device));
  auto step = [&] {
    compat::AutocastGuard autocast(device.type(), o.bf16 ? torch::kBFloat16 : torch::kFloat);
    auto y = floor ? block_without_mixing(*block, x, c) : block->forward(x, c);
    y.to(torch::kFloat).square().mean().backward();
    // Reading one value waits for the device, portably across LibTorch versions.
    return x.grad().flatten()[0].item<float>();
  };
  for (int i = 0; i < o.warmup; ++i) step();
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < o.iterations; ++i) step();
  const std::chrono::duration<double, std::milli> elapsed = std::chrono::steady_clock::now() - start;
  if (!profile.empty()) {
    core::ProfileTrace trace(profile, device);
    for (int64_t i = 0; i < o.profile_iterations; ++i) step();  // each step waits for the device
    trace.finish();
  }
  return elapsed.count() / o.iterations;
}
}  // namespace

std::string block_profile_path(const std::string& profile, const std::string& attention, int64_t tokens) {
  const std::filesystem::path path(profile);
  const std::string tag = concat(attention, "-", tokens);
  const auto extension = path.extension().string();
  return (path.parent_path() / concat(path.stem().string(), ".", tag, extension.empty() ? ".json" : extension))
      .string();
}

std::vector<BlockBenchRow> bench_block(const BlockBenchOptions& options) {
  FLUXION_CHECK(!options.attentions.empty() && !options.tokens.empty() && options.iterations > 0,
                "bench: need at least one attention kind, one token count and one iteration");
  // every option checked before the first timing, so a bad one costs nothing
  for (int64_t tokens : options.tokens) FLUXION_CHECK(tokens > 0, "bench: token count ", tokens, " must be positive");
  for (const auto& attention : options.attentions) {
    if (attention == kNoMixing) continue;
    try {
      models::parse_attention(attention);
    } catch (const Error& e) {
      fail("bench: ", e.what(), ", or ", kNoMixing, " (the block without token mixing)");
    }
  }
  std::vector<BlockBenchRow> rows;
  for (int64_t tokens : options.tokens) {
    for (const auto& attention : options.attentions) {
      const auto profile = options.profile.empty() ? "" : block_profile_path(options.profile, attention, tokens);
      rows.push_back({attention, tokens, time_block(attention, tokens, options, profile), profile});
    }
  }
  return rows;
}

std::string format_block_bench(const std::vector<BlockBenchRow>& rows) {
  std::vector<std::string> kinds;
  std::map<int64_t, std::map<std::string, double>> table;
  for (const auto& row : rows) {
    if (std::find(kinds.begin(), kinds.end(), row.attention) == kinds.end()) kinds.push_back(row.attention);
    table[row.tokens][row.attention] = row.milliseconds;
  }
  std::ostringstream out;
  char cell[64];
  out << "  tokens";
  for (const auto& kind : kinds) {
    std::snprintf(cell, sizeof cell, " %14s", (kind + " ms").c_str());
    out << cell;
  }
  for (size_t i = 1; i < kinds.size(); ++i) {
    std::snprintf(cell, sizeof cell, " %16s", (kinds[i] + "/" + kinds[0]).c_str());
    out << cell;
  }
  out << "\n";
  for (const auto& [tokens, times] : table) {
    std::snprintf(cell, sizeof cell, "%8lld", static_cast<long long>(tokens));
    out << cell;
    for (const auto& kind : kinds) {
      std::snprintf(cell, sizeof cell, " %14.3f", times.at(kind));
      out << cell;
    }
    for (size_t i = 1; i < kinds.size(); ++i) {
      std::snprintf(cell, sizeof cell, " %16.3f", times.at(kinds[i]) / times.at(kinds[0]));
      out << cell;
    }
    out << "\n";
  }
  return out.str();
}

}  // namespace fluxion::cli
