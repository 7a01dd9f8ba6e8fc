// models/fused_gated_residual.h: the gated residual whose backward is one CUDA kernel gives the
// unfused addcmul's output and gradients (float32 round-off; under bf16 autocast the gradient of y
// is the same float32 product rounded once, so it matches to the bit).
#include <catch2/catch.hpp>

#include "core/compat.h"
#include "models/fused_kernels.h"
#include "models/fused_gated_residual.h"
#include "models/layers.h"
#include "test_helpers.h"

using namespace fluxion;

namespace {
// out, dx, d(adaLN output), dy of x + gate * y for a fixed upstream gradient, through `f`
template <typename F>
std::vector<torch::Tensor> run(const torch::Tensor& x, const torch::Tensor& adaln, const torch::Tensor& y,
                               const torch::Tensor& upstream, F f) {
  auto out = f(x, adaln.chunk(6, 1)[2], y);  // the gate: a strided (B, D) chunk, as SiT passes it
  (out.to(torch::kFloat) * upstream).sum().backward();
  std::vector<torch::Tensor> result = {out.detach().cpu(), x.grad().cpu(), adaln.grad().cpu(), y.grad().cpu()};
  for (auto t : {x, adaln, y}) t.mutable_grad().reset();
  return result;
}

torch::Tensor unfused(const torch::Tensor& x, const torch::Tensor& gate, const torch::Tensor& y) {
  return torch::addcmul(x, gate.unsqueeze(1), y);
}
}  // namespace

TEST_CASE("the fused gated residual leaves CPU tensors to the unfused path", "[unit][models]") {
  auto x = torch::randn({2, 3, 4}, torch::requires_grad());
  CHECK_FALSE(models::fused_gated_residual(x, torch::randn({2, 4}), torch::randn({2, 3, 4})).has_value());
}

TEST_CASE("the fused CUDA gated residual agrees with addcmul forward and backward", "[cuda][models]") {
  if (!torch::cuda::is_available()) test::skip_test("CUDA not available");
  if (!models::fused_kernels_built()) test::skip_test("built without FLUXION_CUDA_KERNELS");
  const int64_t B = 3, N = 37, D = 200;
  torch::manual_seed(31);
  auto x = torch::randn({B, N, D}).cuda().requires_grad_();
  const auto upstream = torch::randn({B, N, D}).cuda();
  auto fused_fn = [](const torch::Tensor& a, const torch::Tensor& g, const torch::Tensor& y) {
    auto out = models::fused_gated_residual(a, g, y);
    REQUIRE(out.has_value());  // the kernel path was taken
    return *out;
  };

  SECTION("float32") {
    auto adaln = torch::randn({B, 6 * D}).cuda().requires_grad_();
    auto y = torch::randn({B, N, D}).cuda().requires_grad_();
    const auto fused = run(x, adaln, y, upstream, fused_fn);
    const auto reference = run(x, adaln, y, upstream, unfused);
    for (size_t i = 0; i < fused.size(); ++i) {
      INFO("output " << i);
      CHECK(test::max_abs_diff(fused[i], reference[i]) < 1e-5 * (1 + reference[i].abs().max().item<double>()));
    }
  }
  SECTION("bf16 gate and y with a float32 residual stream, as under autocast") {
    auto adaln = torch::randn({B, 6 * D}).to(torch::kBFloat16).cuda().requires_grad_();
    auto y = torch::randn({B, N, D}).to(torch::kBFloat16).cuda().requires_grad_();
    std::vector<torch::Tensor> fused, reference;
    {
      compat::AutocastGuard autocast(c10::DeviceType::CUDA, torch::kBFloat16);
      fused = run(x, adaln, y, upstream, fused_fn);
      reference = run(x, adaln, y, upstream, unfused);
    }
    CHECK(fused[0].scalar_type() == torch::kFloat);
    CHECK(fused[3].scalar_type() == torch::kBFloat16);
    CHECK(torch::equal(fused[0], reference[0]));  // the same addcmul
    CHECK(torch::equal(fused[1], reference[1]));  // the upstream gradient, passed through
    CHECK(torch::equal(fused[3], reference[3]));  // grad * gate in float32, rounded once
    // the gate's gradient: float32 sums over tokens in another order, rounded to bf16
    CHECK(test::max_abs_diff(fused[2], reference[2]) < 1e-2 * (1 + reference[2].abs().max().item<double>()));
  }
}
