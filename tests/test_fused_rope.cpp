// models/fused_rope.h: the rotary embedding as one CUDA kernel forward and one backward gives the
// unfused formula's output and input gradient, on attention's strided q and on JiT's tables with
// in-context prefix tokens; in bf16 it is the float32 result rounded once.
#include <catch2/catch.hpp>

#include "models/fused_kernels.h"
#include "models/fused_rope.h"
#include "models/pos_embed.h"
#include "test_helpers.h"

using namespace fluxion;

namespace {
// x cos + rotate_half(x) sin in float32, as upstream computes it with float32 tables
torch::Tensor reference_rope(const torch::Tensor& x, const models::RopeTables& rope) {
  auto shape = x.sizes().vec();
  shape.back() /= 2;
  shape.push_back(2);
  auto pairs = x.to(torch::kFloat).reshape(shape);
  auto rotated = torch::stack({-pairs.select(-1, 1), pairs.select(-1, 0)}, -1).flatten(-2);
  return x.to(torch::kFloat) * rope.cos.to(x.device()) + rotated * rope.sin.to(x.device());
}
}  // namespace

TEST_CASE("the fused rotary embedding leaves CPU tensors to the unfused path", "[unit][models]") {
  const auto rope = models::axial_rope_tables(8, 2, 0);
  CHECK_FALSE(models::fused_rope(torch::randn({1, 2, 4, 8}), rope).has_value());
}

TEST_CASE("the fused CUDA rotary embedding agrees with the unfused formula forward and backward", "[cuda][models]") {
  if (!torch::cuda::is_available()) test::skip_test("CUDA not available");
  if (!models::fused_kernels_built()) test::skip_test("built without FLUXION_CUDA_KERNELS");
  const int64_t B = 2, H = 3, head_dim = 16, grid = 4, prefix = 2, N = prefix + grid * grid;
  const auto rope = models::axial_rope_tables(head_dim, grid, prefix);
  const auto type = GENERATE(torch::kFloat, torch::kBFloat16);
  INFO("dtype " << type);
  torch::manual_seed(41);
  // q of a (B, N, 3, H, d) projection: a strided (B, H, N, d) view, as AttentionImpl makes it
  auto qkv = torch::randn({B, N, 3, H, head_dim}).to(type).cuda().requires_grad_();
  const auto q = qkv.select(2, 0).permute({0, 2, 1, 3});
  const auto upstream = torch::randn({B, H, N, head_dim}).cuda();

  auto fused = models::fused_rope(q, rope);
  REQUIRE(fused.has_value());
  CHECK(fused->scalar_type() == type);
  (fused->to(torch::kFloat) * upstream).sum().backward();
  const auto fused_grad = qkv.grad().clone();
  qkv.mutable_grad().reset();

  auto reference = reference_rope(q, rope);
  (reference * upstream).sum().backward();
  const double tolerance = type == torch::kFloat ? 1e-5 : std::ldexp(1.0, -7);
  CHECK(test::max_abs_diff(fused->to(torch::kFloat), reference.to(type).to(torch::kFloat)) <
        tolerance * (1 + reference.abs().max().item<double>()));
  CHECK(test::max_abs_diff(fused_grad.to(torch::kFloat), qkv.grad().to(torch::kFloat)) <
        tolerance * (1 + qkv.grad().to(torch::kFloat).abs().max().item<double>()));
  // the prefix tokens are not rotated
  CHECK(torch::equal(fused->narrow(2, 0, prefix), q.narrow(2, 0, prefix)));
}
