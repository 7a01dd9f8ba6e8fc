// models/fused_swiglu.h: on CUDA, SwiGLU's activation as one kernel each way gives silu(a) * b and
// its gradient (float32 round-off; in bf16 the float32 result rounded once).
#include <catch2/catch.hpp>

#include "models/fused_kernels.h"
#include "models/fused_swiglu.h"
#include "test_helpers.h"

using namespace fluxion;

TEST_CASE("the fused SwiGLU leaves CPU tensors to the unfused path", "[unit][models]") {
  CHECK_FALSE(models::fused_swiglu(torch::randn({2, 3, 8})).has_value());
}

TEST_CASE("the fused CUDA SwiGLU agrees with silu(a) * b forward and backward", "[cuda][models]") {
  if (!torch::cuda::is_available()) test::skip_test("CUDA not available");
  if (!models::fused_kernels_built()) test::skip_test("built without FLUXION_CUDA_KERNELS");
  const auto type = GENERATE(torch::kFloat, torch::kBFloat16);
  INFO("dtype " << type);
  torch::manual_seed(47);
  const auto input = (torch::randn({3, 37, 2 * 200}) * 3).to(type);
  const auto upstream = torch::randn({3, 37, 200}, torch::kDouble);
  auto both = input.cuda().requires_grad_();
  auto got = models::fused_swiglu(both);
  REQUIRE(got.has_value());
  (got->to(torch::kDouble) * upstream.cuda()).sum().backward();
  auto reference = input.to(torch::kDouble).requires_grad_();
  auto halves = reference.chunk(2, -1);
  auto want = torch::silu(halves[0]) * halves[1];
  (want * upstream).sum().backward();
  const double tolerance = type == torch::kFloat ? 1e-5 : std::ldexp(1.0, -7);
  CHECK(test::max_abs_diff(got->cpu().to(torch::kDouble), want.detach()) <
        tolerance * (1 + want.abs().max().item<double>()));
  CHECK(test::max_abs_diff(both.grad().cpu().to(torch::kDouble), reference.grad()) <
        tolerance * (1 + reference.grad().abs().max().item<double>()));
}
