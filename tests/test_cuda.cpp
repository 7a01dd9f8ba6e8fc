// CUDA checks: run where a GPU is present, reported as skipped elsewhere.
#include <catch2/catch.hpp>

#include "core/compat.h"
#include "test_helpers.h"

using namespace fluxion;

TEST_CASE("tensors travel to the GPU and back and a GPU matmul agrees with the CPU", "[cuda][device]") {
  if (!torch::cuda::is_available()) {
    test::skip_test("CUDA not available");
  }
  auto a = torch::randn({257, 129}, torch::kDouble);
  auto b = torch::randn({129, 65}, torch::kDouble);
  auto a_gpu = a.to(torch::kCUDA);
  CHECK(a_gpu.is_cuda());
  CHECK(torch::equal(a_gpu.cpu(), a));  // the round trip is bit-exact
  auto product = torch::matmul(a_gpu, b.to(torch::kCUDA)).cpu();
  CHECK(test::max_abs_diff(product, torch::matmul(a, b)) < 1e-10);

  // fp32 with TF32 possibly on: relative agreement.
  auto af = a.to(torch::kFloat), bf = b.to(torch::kFloat);
  auto pf = torch::matmul(af.cuda(), bf.cuda()).cpu();
  CHECK((pf - torch::matmul(af, bf)).abs().max().item<double>() <
        5e-2 * torch::matmul(af, bf).abs().max().item<double>());
}

TEST_CASE("bf16 autocast on CUDA computes matmuls in bf16 and restores the state", "[cuda][device]") {
  if (!torch::cuda::is_available()) {
    test::skip_test("CUDA not available");
  }
  auto a = torch::randn({64, 64}, torch::device(torch::kCUDA));
  {
    compat::AutocastGuard guard(c10::DeviceType::CUDA, torch::kBFloat16);
    CHECK(torch::matmul(a, a).scalar_type() == torch::kBFloat16);
    {
      compat::AutocastOffGuard off;
      CHECK(torch::matmul(a, a).scalar_type() == torch::kFloat);
    }
    CHECK(torch::matmul(a, a).scalar_type() == torch::kBFloat16);
  }
  CHECK(torch::matmul(a, a).scalar_type() == torch::kFloat);
}

TEST_CASE("SDPA on CUDA in bf16 agrees with the fp32 CPU attention", "[cuda][device]") {
  if (!torch::cuda::is_available()) {
    test::skip_test("CUDA not available");
  }
  auto q = torch::randn({2, 4, 128, 32}), k = torch::randn({2, 4, 128, 32}), v = torch::randn({2, 4, 128, 32});
  auto reference = compat::scaled_dot_product_attention(q, k, v);
  auto gpu = compat::scaled_dot_product_attention(q.cuda().to(torch::kBFloat16), k.cuda().to(torch::kBFloat16),
                                                  v.cuda().to(torch::kBFloat16));
  CHECK(test::max_abs_diff(gpu.cpu().to(torch::kFloat), reference) < 5e-2);
}
