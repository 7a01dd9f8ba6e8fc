// models/fused_linear_attention.cpp with models/cuda/linear_attention_kernels.cu, run by the CPU
// emulation: LINA linear attention through the fused kernels gives the N x N reference
// (linear_attention_naive) in float64, forward and backward, with and without KV gates, on
// attention's strided q, k, v; and a SiT with linear attention gives the float64 unfused model's
// output and gradients.
#include "emulated_cuda.h"
#include "kernel_checks.h"
#include "model_checks.h"
#include "models/fused_linear_attention.h"
#include "models/linear_attention.h"
#include "models/sit.h"

using namespace fluxion;
using kernel_checks::close;

namespace {
struct Grads {
  torch::Tensor out, dqkv, dkey_gate, dvalue_gate;
};

// q, k, v as (B, H, N, d) views of one (B, N, 3, H, d) projection, as AttentionImpl makes them
template <typename F>
Grads run(const torch::Tensor& qkv, const torch::Tensor& key_gate, const torch::Tensor& value_gate,
          const torch::Tensor& upstream, F attention) {
  auto qkv_leaf = qkv.detach().requires_grad_();
  auto gk = key_gate.defined() ? key_gate.detach().requires_grad_() : key_gate;
  auto gv = value_gate.defined() ? value_gate.detach().requires_grad_() : value_gate;
  auto parts = qkv_leaf.permute({2, 0, 3, 1, 4});
  auto out = attention(parts[0], parts[1], parts[2], gk, gv);
  (out.to(torch::kDouble) * upstream).sum().backward();
  return {out.detach(), qkv_leaf.grad(), gk.defined() ? gk.grad() : gk, gv.defined() ? gv.grad() : gv};
}
}  // namespace

TEST_CASE("fused linear attention agrees with the N x N reference forward and backward", "[unit][kernels]") {
  const int64_t B = 2, H = 3, N = 13, d = 40;  // d past one warp's 32 lanes
  const bool gated = GENERATE(false, true);
  const auto type = GENERATE(torch::kFloat, torch::kBFloat16);
  INFO((gated ? "gated" : "ungated") << ", " << type);
  torch::manual_seed(23);
  const auto qkv = torch::randn({B, N, 3, H, d}).to(type);
  const auto key_gate = gated ? torch::rand({1, H, N, 1}) + 0.5 : torch::Tensor();
  const auto value_gate = gated ? torch::randn({1, H, N, 1}) : torch::Tensor();
  const auto upstream = torch::randn({B, H, N, d}, torch::kDouble);

  const int64_t before = kernel_emulation::launch_count();
  const auto got = run(qkv, key_gate, value_gate, upstream, [](auto&&... a) { return models::linear_attention(a...); });
  CHECK(kernel_emulation::launch_count() == before + 4);  // features, division, and their backward
  CHECK(got.out.scalar_type() == torch::kFloat);
  CHECK(got.dqkv.scalar_type() == type);
  const auto want = run(qkv.to(torch::kDouble), key_gate.defined() ? key_gate.to(torch::kDouble) : key_gate,
                        value_gate.defined() ? value_gate.to(torch::kDouble) : value_gate, upstream,
                        [](auto&&... a) { return models::linear_attention_naive(a...); });
  const double tolerance = type == torch::kFloat ? 1e-5 : 1.0 / 128;  // bf16: the input gradients' rounding
  CHECK(close(got.out, want.out, 1e-5));
  CHECK(close(got.dqkv, want.dqkv, tolerance));
  if (gated) {
    CHECK(close(got.dkey_gate, want.dkey_gate, 1e-5));
    CHECK(close(got.dvalue_gate, want.dvalue_gate, 1e-5));
  }
}

TEST_CASE("fused linear attention keeps a NaN input visible", "[unit][kernels]") {
  auto q = torch::randn({1, 1, 4, 8}), k = torch::randn({1, 1, 4, 8}), v = torch::randn({1, 1, 4, 8});
  q[0][0][1][2] = std::nan("");
  auto fused = models::fused_linear_attention(q, k, v, {}, {}, {});
  REQUIRE(fused.has_value());
  CHECK(fused->isnan().any().item<bool>());
}

TEST_CASE("SiT with linear attention through the emulated kernels gives the float64 unfused model", "[unit][kernels]") {
  auto config = kernel_checks::tiny_sit_config();
  config.attention.kind = models::AttentionKind::Linear;
  kernel_checks::check_against_float64<models::SiT>(config, torch::randn({2, 2, 8, 8}));
}
