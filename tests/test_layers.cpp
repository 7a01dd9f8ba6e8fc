// models/layers: the adaLN helpers against their textbook formulas, and the fused inference paths
// on CUDA (modulate written in autocast's dtype, fc1 + bias + tanh-GELU in one GEMM) against the
// unfused ops in float64.
#include <catch2/catch.hpp>

#include "core/compat.h"
#include "models/layers.h"
#include "test_helpers.h"

using namespace fluxion;

TEST_CASE("modulate and the gated residual are the adaLN formulas and carry gradients", "[unit][models]") {
  torch::manual_seed(3);
  auto x = torch::randn({2, 5, 8}, torch::kDouble).requires_grad_();
  auto shift = torch::randn({2, 8}, torch::kDouble).requires_grad_();
  auto scale = torch::randn({2, 8}, torch::kDouble).requires_grad_();
  auto gate = torch::randn({2, 8}, torch::kDouble).requires_grad_();
  auto y = torch::randn({2, 5, 8}, torch::kDouble).requires_grad_();

  auto modulated = models::modulate(x, shift, scale);
  auto expected = x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1);
  CHECK(modulated.sizes() == x.sizes());
  CHECK(test::max_abs_diff(modulated, expected) < 1e-14);
  auto residual = models::gated_residual(x, gate, y);
  CHECK(test::max_abs_diff(residual, x + gate.unsqueeze(1) * y) < 1e-14);

  // d/dscale of sum(modulate) = sum over tokens of x; d/dgate of sum(residual) = sum of y
  (modulated.sum() + residual.sum()).backward();
  CHECK(test::max_abs_diff(scale.grad(), x.sum(1)) < 1e-12);
  CHECK(test::max_abs_diff(shift.grad(), torch::full({2, 8}, 5.0, torch::kDouble)) < 1e-12);
  CHECK(test::max_abs_diff(gate.grad(), y.sum(1)) < 1e-12);
  CHECK(test::max_abs_diff(x.grad(), (1 + scale.unsqueeze(1)).expand({2, 5, 8}) + 1) < 1e-12);
}

TEST_CASE("the fused CUDA inference paths of modulate and the MLP equal the unfused ops", "[cuda][models]") {
  if (!torch::cuda::is_available()) {
    test::skip_test("CUDA not available");
  }
  torch::manual_seed(4);
  const bool tf32 = at::globalContext().allowTF32CuBLAS();
  at::globalContext().setAllowTF32CuBLAS(false);
  models::Mlp mlp(64, 256);
  auto x = torch::randn({3, 17, 64});
  auto reference = [&](const torch::Tensor& input) {
    // float64 on the CPU, the exact definition: fc2(gelu_tanh(fc1(x)))
    auto h = torch::gelu(
        torch::linear(input.to(torch::kDouble), mlp->fc1->weight.to(torch::kDouble), mlp->fc1->bias.to(torch::kDouble)),
        "tanh");
    return torch::linear(h, mlp->fc2->weight.to(torch::kDouble), mlp->fc2->bias.to(torch::kDouble));
  };
  const auto expected = reference(x);
  // the erf GELU differs from the tanh one by up to 5e-4 (2e-4 here after fc2): float32 round-off
  // (1e-5 allowed) is far below that, so the check tells the two apart
  auto erf_variant = torch::linear(torch::gelu(torch::linear(x.to(torch::kDouble), mlp->fc1->weight.to(torch::kDouble),
                                                             mlp->fc1->bias.to(torch::kDouble))),
                                   mlp->fc2->weight.to(torch::kDouble), mlp->fc2->bias.to(torch::kDouble));
  REQUIRE(test::max_abs_diff(erf_variant, expected) > 5e-5);

  mlp->to(torch::kCUDA);
  {
    torch::NoGradGuard no_grad;  // the fused path
    auto fused = mlp->forward(x.cuda()).cpu().to(torch::kDouble);
    CHECK(test::max_abs_diff(fused, expected) < 1e-5);
  }
  auto unfused = mlp->forward(x.cuda()).cpu().to(torch::kDouble);  // grad mode: the autograd path
  CHECK(test::max_abs_diff(unfused, expected) < 1e-5);
  at::globalContext().setAllowTF32CuBLAS(tf32);

  // Under bf16 autocast: the fused GEMM runs in bf16 like autocast's linear would
  {
    compat::AutocastGuard autocast(c10::DeviceType::CUDA, torch::kBFloat16);
    torch::NoGradGuard no_grad;
    auto fused = mlp->forward(x.cuda());
    CHECK(fused.scalar_type() == torch::kBFloat16);
    CHECK(test::max_abs_diff(fused.cpu().to(torch::kDouble), expected) < 3e-2 * expected.abs().max().item<double>());

    auto shift = torch::randn({3, 64}).cuda().to(torch::kBFloat16);
    auto scale = torch::randn({3, 64}).cuda().to(torch::kBFloat16);
    auto normed = torch::randn({3, 17, 64}).cuda();
    auto modulated = models::modulate(normed, shift, scale);
    CHECK(modulated.scalar_type() == torch::kBFloat16);  // what the next linear would cast it to
    // 1 + scale stays in bf16 as in the official code; the rest is exact here
    auto exact =
        normed.to(torch::kDouble) * (1 + scale.unsqueeze(1)).to(torch::kDouble) + shift.unsqueeze(1).to(torch::kDouble);
    // rounded once from float32: within half a bf16 ulp (2^-8 relative) of the exact value
    auto error = (modulated.to(torch::kDouble) - exact).abs() - exact.abs() * std::ldexp(1.0, -8);
    CHECK(error.max().item<double>() < 1e-6);
  }
}
