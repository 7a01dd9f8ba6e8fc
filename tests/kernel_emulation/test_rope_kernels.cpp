// models/cuda/rope_kernels.cu run by the CPU emulation: the rotary embedding's forward and
// backward kernels against x cos + rotate_half(x) sin and its autograd in float64, on strided
// (B, H, N, d) views such as attention's q and k, with tables whose pair entries differ (the
// kernels do not assume that a pair shares its angle).
#include "kernel_checks.h"
#include "models/cuda/rope_kernels.h"

namespace kernels = fluxion::models::cuda;
using fluxion::kernel_checks::close;
using fluxion::kernel_checks::kernel_type;

namespace {
// (..., d): pairs (a, b) -> (-b, a)
torch::Tensor rotate_half(const torch::Tensor& x) {
  auto shape = x.sizes().vec();
  shape.back() /= 2;
  shape.push_back(2);
  auto pairs = x.reshape(shape);
  return torch::stack({-pairs.select(-1, 1), pairs.select(-1, 0)}, -1).flatten(-2);
}

kernels::RopeShape shape_of(const torch::Tensor& t) {
  return kernels::rope_shape(t.sizes().data(), t.strides().data());
}
}  // namespace

TEST_CASE("the fused rotary embedding kernels agree with the unfused formula and its autograd", "[unit][kernels]") {
  const int64_t B = 2, H = 3, N = 11, d = 12;
  const auto type = GENERATE(torch::kFloat, torch::kBFloat16);
  const double tolerance = type == torch::kFloat ? 2e-6 : 1.0 / 128;
  INFO("dtype " << type);
  torch::manual_seed(13);
  // q of a (B, N, 3, H, d) qkv projection: (B, H, N, d) with strides (3 N H d, d, 3 H d, 1)
  const auto qkv = torch::randn({B, N, 3, H, d}).to(type);
  const auto q = qkv.select(2, 0).permute({0, 2, 1, 3});
  const auto angles = torch::rand({N, d}) * 6;
  const auto cos = angles.cos(), sin = (angles * 1.3).sin();  // pair entries differ on purpose
  // an upstream gradient laid out as (B, N, H, d), seen as (B, H, N, d)
  const auto upstream = torch::randn({B, N, H, d}).to(type).permute({0, 2, 1, 3});

  auto y = torch::full({B, H, N, d}, std::nan(""), torch::TensorOptions().dtype(type));
  auto dx = torch::full({B, H, N, d}, std::nan(""), torch::TensorOptions().dtype(type));
  kernels::rope_forward(q.data_ptr(), kernel_type(q), cos.data_ptr<float>(), sin.data_ptr<float>(), y.data_ptr(),
                        shape_of(q), nullptr);
  kernels::rope_backward(upstream.data_ptr(), kernel_type(upstream), cos.data_ptr<float>(), sin.data_ptr<float>(),
                         dx.data_ptr(), shape_of(upstream), nullptr);

  auto qd = q.to(torch::kDouble).requires_grad_();
  auto reference = qd * cos.to(torch::kDouble) + rotate_half(qd) * sin.to(torch::kDouble);
  reference.backward(upstream.to(torch::kDouble));
  CHECK(close(y, reference.detach(), tolerance));
  CHECK(close(dx, qd.grad(), tolerance));
  CHECK(cudaGetLastError() == cudaSuccess);
}
