// models/cuda/depthwise_conv_kernels.cu and its glue (models/fused_depthwise_conv.cpp), run by the
// CPU emulation: LINA's local term, base + depthwise conv of the grid tokens, forward and backward
// against the unfused formulation (conv2d on the transposed grid) in float64, for 3 x 3, 5 x 5 and
// 7 x 7 kernels, with in-context tokens before the grid, a grid that is not square, channels that
// are not a multiple of the 32-channel tile and more tokens than one block's 64.
#include "core/compat.h"
#include "emulated_cuda.h"
#include "kernel_checks.h"
#include "models/cuda/depthwise_conv_kernels.h"
#include "models/fused_depthwise_conv.h"

using namespace fluxion;
using kernel_checks::close;
using kernel_checks::kernel_type;
namespace kernels = models::cuda;

namespace {
struct Result {
  torch::Tensor out, dbase, dx, dweight, dbias;
};

template <typename F>
Result run(const torch::Tensor& base, const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
           const torch::Tensor& upstream, F op) {
  auto b = base.detach().requires_grad_(), xx = x.detach().requires_grad_();
  auto w = weight.detach().requires_grad_(), c = bias.detach().requires_grad_();
  auto out = op(b, xx, w, c);
  (out.to(torch::kDouble) * upstream).sum().backward();
  return {out.detach(), b.grad(), xx.grad(), w.grad(), c.grad()};
}
}  // namespace

TEST_CASE("the fused depthwise convolution agrees with conv2d forward and backward", "[unit][kernels]") {
  const int64_t B = 2, C = 70;
  struct Case {
    int64_t k, grid_h, grid_w, prefix;
  };
  const auto which = GENERATE(0, 1, 2);
  const Case c = std::vector<Case>{{5, 9, 11, 0}, {3, 7, 3, 2}, {7, 4, 5, 1}}[which];
  const auto type = GENERATE(torch::kFloat, torch::kBFloat16);
  const int64_t N = c.prefix + c.grid_h * c.grid_w;
  INFO("K " << c.k << ", grid " << c.grid_h << " x " << c.grid_w << ", prefix " << c.prefix << ", " << type);
  torch::manual_seed(31);
  const auto base = torch::randn({B, N, C}).to(type), x = torch::randn({B, N, C}).to(type);
  const auto weight = torch::randn({C, 1, c.k, c.k}) * 0.3, bias = torch::randn({C});
  const auto upstream = torch::randn({B, N, C}, torch::kDouble);

  const int64_t before = kernel_emulation::launch_count();
  const auto got = run(base, x, weight, bias, upstream, [&](auto&&... a) {
    // bf16 runs under autocast, as the blocks do (the convolution's output type is autocast's)
    compat::AutocastGuard autocast(torch::kCPU, type);
    auto fused = models::fused_depthwise_conv_add(a..., c.grid_h, c.grid_w);
    REQUIRE(fused.has_value());
    return *fused;
  });
  CHECK(kernel_emulation::launch_count() == before + 3);  // forward, and the input and weight gradients
  CHECK(got.out.scalar_type() == type);
  CHECK(got.dx.scalar_type() == type);
  CHECK(got.dweight.scalar_type() == torch::kFloat);
  // the fused backward receives the upstream gradient in the output's type: so does the reference
  const auto received = upstream.to(type).to(torch::kDouble);
  const auto want =
      run(base.to(torch::kDouble), x.to(torch::kDouble), weight.to(torch::kDouble), bias.to(torch::kDouble), received,
          [&](auto&&... a) { return models::depthwise_conv_add_unfused(a..., c.grid_h, c.grid_w); });
  const double rounding = type == torch::kFloat ? 1e-5 : 1.0 / 128;  // bf16: the outputs' one rounding
  CHECK(close(got.out, want.out, rounding));
  CHECK(close(got.dbase, want.dbase, rounding));
  CHECK(close(got.dx, want.dx, rounding));
  CHECK(close(got.dweight, want.dweight, 1e-5));  // float32 sums
  CHECK(close(got.dbias, want.dbias, 1e-5));
  // the prefix tokens: base passed through, no gradient to x
  if (c.prefix > 0) {
    CHECK(torch::equal(got.out.narrow(1, 0, c.prefix), base.narrow(1, 0, c.prefix)));
    CHECK(got.dx.narrow(1, 0, c.prefix).abs().max().item<float>() == 0.0f);
  }
}

TEST_CASE("the fused depthwise convolution follows autocast's type and leaves other cases unfused", "[unit][kernels]") {
  const auto base = torch::randn({1, 16, 8}), x = torch::randn({1, 16, 8});
  const auto weight = torch::randn({8, 1, 3, 3}), bias = torch::randn({8});
  // no bias: the same as a zero bias
  auto without_bias = models::fused_depthwise_conv_add(base, x, weight, torch::Tensor(), 4, 4);
  REQUIRE(without_bias.has_value());
  CHECK(close(*without_bias, models::depthwise_conv_add_unfused(base, x, weight, torch::zeros({8}), 4, 4), 1e-5));
  // float32 base and bf16 x: float32 out, as base + conv(x) promotes
  auto mixed = models::fused_depthwise_conv_add(base, x.to(torch::kBFloat16), weight, bias, 4, 4);
  REQUIRE(mixed.has_value());
  CHECK(mixed->scalar_type() == torch::kFloat);
  // what the kernels do not take: an even kernel, a grid larger than the tokens, float64, a bias of
  // another length, a convolution that is not depthwise
  CHECK_FALSE(models::fused_depthwise_conv_add(base, x, torch::randn({8, 1, 4, 4}), bias, 4, 4).has_value());
  CHECK_FALSE(models::fused_depthwise_conv_add(base, x, weight, bias, 5, 4).has_value());
  CHECK_FALSE(
      models::fused_depthwise_conv_add(base.to(torch::kDouble), x.to(torch::kDouble), weight, bias, 4, 4).has_value());
  CHECK_FALSE(models::fused_depthwise_conv_add(base, x, weight, torch::randn({7}), 4, 4).has_value());
  CHECK_FALSE(models::fused_depthwise_conv_add(base, x, torch::randn({8, 2, 3, 3}), bias, 4, 4).has_value());
}

TEST_CASE("the depthwise weight gradient is split into about 1,024 blocks, at most one per 8 positions",
          "[unit][kernels]") {
  kernels::DepthwiseConvShape shape;
  shape.samples = 3;
  shape.tokens = shape.grid_h = 1;
  shape.grid_w = 1;
  shape.channels = 4;
  shape.kernel_size = 3;
  CHECK(kernels::depthwise_conv_weight_splits(shape) == 1);  // 3 positions: one group of 8 lanes
  shape.grid_h = shape.grid_w = 64;
  shape.tokens = 4096;
  shape.channels = 1152;
  CHECK(kernels::depthwise_conv_weight_splits(shape) == 29);  // 36 channel tiles x 29 ~ 1,024 blocks
}
