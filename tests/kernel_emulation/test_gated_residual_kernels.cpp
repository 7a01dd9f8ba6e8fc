// models/cuda/gated_residual_kernels.cu run by the CPU emulation: the gated residual's backward
// (the gradients of y and of the per-sample gate) against autograd in float64, for float32
// throughout, the bf16 autocast mix (float32 upstream gradient, bf16 gate and y) and bf16 throughout.
#include "kernel_checks.h"
#include "models/cuda/gated_residual_kernels.h"

namespace kernels = fluxion::models::cuda;
using fluxion::kernel_checks::close;
using fluxion::kernel_checks::kernel_type;

TEST_CASE("the fused gated residual backward agrees with autograd", "[unit][kernels]") {
  const int64_t B = 3, N = 19, D = 70;  // D not a multiple of the 32-channel tile, N past the 8 token lanes
  const auto bf16 = torch::kBFloat16, f32 = torch::kFloat;
  struct Case {
    c10::ScalarType upstream, gate, y;
    double tolerance;  // of dy: float32 round-off or one bf16 rounding
  };
  const auto which = GENERATE(0, 1, 2);
  const Case c =
      std::vector<Case>{{f32, f32, f32, 1e-6}, {f32, bf16, bf16, 1.0 / 128}, {bf16, bf16, bf16, 1.0 / 128}}[which];
  INFO("upstream " << c.upstream << ", gate " << c.gate << ", y " << c.y);
  torch::manual_seed(9);
  const auto adaln = torch::randn({B, 6 * D}).to(c.gate);
  const auto gate = adaln.narrow(1, 2 * D, D);  // a strided chunk, as SiT's blocks pass it
  const auto y = torch::randn({B, N, D}).to(c.y);
  const auto upstream = torch::randn({B, N, D}).to(c.upstream);

  kernels::GatedResidualShape shape;
  shape.samples = B;
  shape.tokens = N;
  shape.dim = D;
  shape.gate_stride = gate.stride(0);
  auto dy = torch::full({B, N, D}, std::nan(""), torch::TensorOptions().dtype(c.y));
  auto dgate = torch::full({B, D}, std::nan(""));
  kernels::gated_residual_backward(upstream.data_ptr(), kernel_type(upstream), gate.data_ptr(), kernel_type(gate),
                                   y.data_ptr(), kernel_type(y), dy.data_ptr(), dgate.data_ptr<float>(), shape,
                                   nullptr);

  auto xd = torch::randn({B, N, D}, torch::kDouble).requires_grad_();
  auto gated = gate.to(torch::kDouble).requires_grad_(), yd = y.to(torch::kDouble).requires_grad_();
  (xd + gated.unsqueeze(1) * yd).backward(upstream.to(torch::kDouble));
  CHECK(close(dy, yd.grad(), c.tolerance));
  CHECK(close(dgate, gated.grad(), 1e-5));
  CHECK(cudaGetLastError() == cudaSuccess);
}

TEST_CASE("the fused gated residual backward gives zero gate gradients for zero tokens", "[unit][kernels]") {
  kernels::GatedResidualShape shape;
  shape.samples = 2;
  shape.dim = 5;
  shape.gate_stride = 5;
  std::vector<float> gate(10, 1.0f), dgate(10, -1.0f);
  kernels::gated_residual_backward(nullptr, kernels::Dtype::Float32, gate.data(), kernels::Dtype::Float32, nullptr,
                                   kernels::Dtype::Float32, nullptr, dgate.data(), shape, nullptr);
  CHECK(dgate == std::vector<float>(10, 0.0f));
}
