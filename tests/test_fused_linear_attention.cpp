// models/fused_linear_attention.h: on CUDA, LINA linear attention through the fused kernels gives
// the N x N reference in float64, forward and backward, with KV gates, on attention's strided views.
#include <catch2/catch.hpp>

#include "models/fused_kernels.h"
#include "models/fused_linear_attention.h"
#include "models/linear_attention.h"
#include "test_helpers.h"

using namespace fluxion;

TEST_CASE("fused linear attention leaves CPU tensors to the unfused path", "[unit][models]") {
  const auto q = torch::randn({1, 2, 4, 8});
  CHECK_FALSE(models::fused_linear_attention(q, q, q, {}, {}, {}).has_value());
}

TEST_CASE("fused CUDA linear attention agrees with the N x N reference forward and backward", "[cuda][models]") {
  if (!torch::cuda::is_available()) test::skip_test("CUDA not available");
  if (!models::fused_kernels_built()) test::skip_test("built without FLUXION_CUDA_KERNELS");
  const int64_t B = 2, H = 4, N = 96, d = 72;  // SiT-XL's head width, past two warps of lanes
  const auto type = GENERATE(torch::kFloat, torch::kBFloat16);
  INFO("dtype " << type);
  torch::manual_seed(43);
  const auto qkv = torch::randn({B, N, 3, H, d}).to(type);
  const auto key_gate = torch::rand({1, H, N, 1}) + 0.5, value_gate = torch::randn({1, H, N, 1});
  const auto upstream = torch::randn({B, H, N, d}, torch::kDouble);
  auto run = [&](const torch::Device& device, torch::ScalarType compute, bool naive) {
    auto leaf = qkv.to(device, compute).requires_grad_();
    auto gk = key_gate.to(device, compute == torch::kDouble ? compute : torch::kFloat).requires_grad_();
    auto gv = value_gate.to(device, gk.scalar_type()).requires_grad_();
    auto parts = leaf.permute({2, 0, 3, 1, 4});  // (3, B, H, N, d) strided views
    auto out = naive ? models::linear_attention_naive(parts[0], parts[1], parts[2], gk, gv)
                     : models::linear_attention(parts[0], parts[1], parts[2], gk, gv);
    (out.to(torch::kDouble) * upstream.to(device)).sum().backward();
    return std::vector<torch::Tensor>{out.detach().cpu().to(torch::kDouble), leaf.grad().cpu().to(torch::kDouble),
                                      gk.grad().cpu().to(torch::kDouble), gv.grad().cpu().to(torch::kDouble)};
  };
  REQUIRE(models::fused_linear_attention(qkv.cuda().select(2, 0).permute({0, 2, 1, 3}),
                                         qkv.cuda().select(2, 1).permute({0, 2, 1, 3}),
                                         qkv.cuda().select(2, 2).permute({0, 2, 1, 3}), {}, {}, {})
              .has_value());
  const auto got = run(torch::kCUDA, type, false);
  const auto want = run(torch::kCPU, torch::kDouble, true);
  const std::vector<double> tolerance = {1e-5, type == torch::kFloat ? 1e-5 : 1.0 / 128, 1e-5, 1e-5};
  for (size_t i = 0; i < got.size(); ++i) {
    INFO("output " << i);
    CHECK(test::max_abs_diff(got[i], want[i]) < tolerance[i] * (1 + want[i].abs().max().item<double>()));
  }
}
