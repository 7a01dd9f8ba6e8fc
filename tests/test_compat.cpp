#include <catch2/catch.hpp>

#include <cmath>

#include "core/compat.h"
#include "test_helpers.h"

using namespace fluxion;

TEST_CASE("compat attention equals softmax(q k^T / sqrt(d)) v", "[unit][compat]") {
  auto q = torch::randn({2, 3, 7, 8}, torch::kDouble);
  auto k = torch::randn({2, 3, 5, 8}, torch::kDouble);
  auto v = torch::randn({2, 3, 5, 4}, torch::kDouble);
  auto expected = torch::matmul(torch::softmax(torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(8.0), -1), v);
  CHECK(test::max_abs_diff(compat::scaled_dot_product_attention(q, k, v), expected) < 1e-12);
  auto expected_scaled = torch::matmul(torch::softmax(torch::matmul(q, k.transpose(-2, -1)) * 0.3, -1), v);
  CHECK(test::max_abs_diff(compat::scaled_dot_product_attention(q, k, v, 0.3), expected_scaled) < 1e-12);
}

TEST_CASE("compat autocast guard switches CPU matmuls to bf16 and restores", "[unit][compat]") {
  auto a = torch::randn({16, 16});
  {
    compat::AutocastGuard fp32(c10::DeviceType::CPU, torch::kFloat);  // a no-op
    CHECK(torch::matmul(a, a).scalar_type() == torch::kFloat);
  }
  {
    compat::AutocastGuard guard(c10::DeviceType::CPU, torch::kBFloat16);
    CHECK(torch::matmul(a, a).scalar_type() == torch::kBFloat16);
    {
      compat::AutocastOffGuard off;
      CHECK(torch::matmul(a, a).scalar_type() == torch::kFloat);
    }
  }
  CHECK(torch::matmul(a, a).scalar_type() == torch::kFloat);
  CHECK(!compat::torch_version().empty());
}
