// models/fused_depthwise_conv.h: on CUDA, LINA's local term (base + depthwise convolution of the
// grid tokens) as kernels on the token layout gives the unfused formulation's values and gradients
// (float32 round-off; in bf16 under autocast the outputs rounded once).
#include <catch2/catch.hpp>

#include "core/compat.h"
#include "models/fused_depthwise_conv.h"
#include "models/fused_kernels.h"
#include "test_helpers.h"

using namespace fluxion;

namespace {
bool close(const torch::Tensor& got, const torch::Tensor& want, double tolerance) {
  const auto diff = test::max_abs_diff(got.cpu().to(torch::kDouble), want);
  INFO("max difference " << diff);
  return diff < tolerance * (1 + want.abs().max().item<double>());
}
}  // namespace

TEST_CASE("the fused depthwise convolution leaves CPU tensors to the unfused path", "[unit][models]") {
  CHECK_FALSE(models::fused_depthwise_conv_add(torch::randn({1, 16, 4}), torch::randn({1, 16, 4}),
                                               torch::randn({4, 1, 3, 3}), torch::randn({4}), 4, 4)
                  .has_value());
}

TEST_CASE("the fused CUDA depthwise convolution agrees with conv2d forward and backward", "[cuda][models]") {
  if (!torch::cuda::is_available()) test::skip_test("CUDA not available");
  if (!models::fused_kernels_built()) test::skip_test("built without FLUXION_CUDA_KERNELS");
  const auto type = GENERATE(torch::kFloat, torch::kBFloat16);
  INFO("dtype " << type);
  const int64_t B = 2, C = 200, grid_h = 16, grid_w = 12, prefix = 3, N = prefix + grid_h * grid_w;
  torch::manual_seed(53);
  const auto base = torch::randn({B, N, C}).to(type), x = torch::randn({B, N, C}).to(type);
  const auto weight = torch::randn({C, 1, 5, 5}) * 0.2, bias = torch::randn({C});
  const auto upstream = torch::randn({B, N, C}, torch::kDouble);
  auto b = base.cuda().requires_grad_(), xx = x.cuda().requires_grad_();
  auto w = weight.cuda().requires_grad_(), c = bias.cuda().requires_grad_();
  torch::Tensor got;
  {
    compat::AutocastGuard autocast(torch::kCUDA, type);  // bf16 as the blocks run it
    auto fused = models::fused_depthwise_conv_add(b, xx, w, c, grid_h, grid_w);
    REQUIRE(fused.has_value());
    got = *fused;
  }
  CHECK(got.scalar_type() == type);
  (got.to(torch::kDouble) * upstream.cuda()).sum().backward();
  // the fused backward receives the upstream gradient in the output's type: so does the reference
  const auto received = upstream.to(type).to(torch::kDouble);
  auto rb = base.to(torch::kDouble).requires_grad_(), rx = x.to(torch::kDouble).requires_grad_();
  auto rw = weight.to(torch::kDouble).requires_grad_(), rc = bias.to(torch::kDouble).requires_grad_();
  auto want = models::depthwise_conv_add_unfused(rb, rx, rw, rc, grid_h, grid_w);
  (want * received).sum().backward();
  const double rounding = type == torch::kFloat ? 1e-5 : std::ldexp(1.0, -7);
  CHECK(close(got, want.detach(), rounding));
  CHECK(close(b.grad(), rb.grad(), rounding));
  CHECK(close(xx.grad(), rx.grad(), rounding));
  CHECK(close(w.grad(), rw.grad(), 1e-5));
  CHECK(close(c.grad(), rc.grad(), 1e-5));
}
