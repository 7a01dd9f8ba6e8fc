// models/cuda/norm_modulate_kernels.cu run by the CPU emulation: the fused LayerNorm (or RMSNorm)
// + adaLN modulate forward and its two backward kernels against autograd in float64, for
// the dtype mixes the trainer and the sampler pass (all float32; float32 residual stream with
// bf16 modulation, output and upstream gradient, as under bf16 autocast; all bf16).
#include <cmath>

#include "kernel_checks.h"
#include "models/cuda/norm_modulate_kernels.h"

namespace kernels = fluxion::models::cuda;

namespace {
using fluxion::kernel_checks::close;
using fluxion::kernel_checks::kernel_type;

struct Case {
  c10::ScalarType x, modulation, y, upstream;
  double tolerance;  // relative: float32 round-off, or one bf16 rounding of the result
};
}  // namespace

TEST_CASE("the fused norm + modulate kernels agree with LayerNorm's and RMSNorm's autograd", "[unit][kernels]") {
  const int64_t B = 3, N = 17, D = 200;  // D not a multiple of 256 threads nor of 32; N past the 8 token lanes
  const double eps = 1e-6;
  const auto bf16 = torch::kBFloat16, f32 = torch::kFloat;
  const bool rms = GENERATE(false, true);
  const auto which = GENERATE(0, 1, 2);
  const Case c = std::vector<Case>{
      {f32, f32, f32, f32, 2e-6}, {f32, bf16, bf16, bf16, 1.0 / 128}, {bf16, bf16, bf16, bf16, 1.0 / 128}}[which];
  INFO((rms ? "RMSNorm" : "LayerNorm") << ", x " << c.x << ", modulation " << c.modulation << ", y " << c.y
                                       << ", upstream " << c.upstream);
  torch::manual_seed(5);
  const auto x = (torch::randn({B, N, D}) * 3 + 1).to(c.x);
  const auto adaln = (torch::randn({B, 6 * D}) * 0.5).to(c.modulation);
  const auto shift = adaln.narrow(1, 0, D), scale = adaln.narrow(1, D, D);  // strided, as SiT's chunks
  const auto upstream = torch::randn({B, N, D}).to(c.upstream);
  const auto weight = 1 + torch::randn({D}) * 0.3;  // RMSNorm's float32 weight
  const float* weight_ptr = rms ? weight.data_ptr<float>() : nullptr;

  kernels::NormModulateShape shape;
  shape.rows = B * N;
  shape.dim = D;
  shape.tokens = N;
  shape.mod_stride = shift.stride(0);
  auto y = torch::full({B, N, D}, std::nan(""), torch::TensorOptions().dtype(c.y));
  auto mean = torch::full({B * N}, std::nan("")), rstd = torch::full({B * N}, std::nan(""));
  auto dx = torch::full({B, N, D}, std::nan(""), torch::TensorOptions().dtype(c.x));
  auto dshift = torch::full({B, D}, std::nan("")), dscale = torch::full({B, D}, std::nan(""));
  auto dweight = torch::full({B, D}, std::nan(""));
  kernels::norm_modulate_forward(x.data_ptr(), kernel_type(x), weight_ptr, shift.data_ptr(), scale.data_ptr(),
                                 kernel_type(shift), y.data_ptr(), kernel_type(y), mean.data_ptr<float>(),
                                 rstd.data_ptr<float>(), shape, static_cast<float>(eps), nullptr);
  kernels::norm_modulate_backward_input(upstream.data_ptr(), kernel_type(upstream), x.data_ptr(), kernel_type(x),
                                        weight_ptr, scale.data_ptr(), kernel_type(scale), mean.data_ptr<float>(),
                                        rstd.data_ptr<float>(), dx.data_ptr(), shape, nullptr);
  kernels::norm_modulate_backward_modulation(upstream.data_ptr(), kernel_type(upstream), x.data_ptr(), kernel_type(x),
                                             weight_ptr, scale.data_ptr(), kernel_type(scale), mean.data_ptr<float>(),
                                             rstd.data_ptr<float>(), dshift.data_ptr<float>(), dscale.data_ptr<float>(),
                                             rms ? dweight.data_ptr<float>() : nullptr, shape, nullptr);

  // float64 reference on the same (already rounded) inputs. 1 + scale is formed in the
  // modulation's dtype, as eager PyTorch does; its gradient passes straight to scale.
  auto xd = x.to(torch::kDouble).requires_grad_();
  auto shiftd = shift.to(torch::kDouble).requires_grad_(), scaled = scale.to(torch::kDouble).requires_grad_();
  auto weightd = weight.to(torch::kDouble).requires_grad_();
  const auto one_plus_rounded = (1 + scale).to(torch::kDouble);
  const auto one_plus = scaled + (one_plus_rounded - scaled).detach();
  const auto centre = rms ? torch::zeros({B, N, 1}, torch::kDouble) : xd.detach().mean(-1, true);
  const auto var = (xd.detach() - centre).square().mean(-1);
  auto normed =
      rms ? xd * (xd.square().mean(-1, true) + eps).rsqrt() * weightd : torch::layer_norm(xd, {D}, {}, {}, eps);
  auto reference = normed * one_plus.unsqueeze(1) + shiftd.unsqueeze(1);
  reference.backward(upstream.to(torch::kDouble));

  CHECK(close(mean, centre.flatten(), 1e-6));
  CHECK(close(rstd, (var + eps).rsqrt().flatten(), 1e-5));
  CHECK(close(y, reference.detach(), c.tolerance));
  CHECK(close(dx, xd.grad(), c.tolerance));
  CHECK(close(dshift, shiftd.grad(), 1e-5));
  CHECK(close(dscale, scaled.grad(), 1e-5));
  if (rms) CHECK(close(dweight.sum(0), weightd.grad(), 1e-5));  // the samples' shares add up
  CHECK(y.scalar_type() == c.y);
  CHECK(cudaGetLastError() == cudaSuccess);
}

TEST_CASE("the fused norm + modulate kernels launch nothing for empty input", "[unit][kernels]") {
  kernels::NormModulateShape shape;
  shape.dim = 8;
  shape.tokens = 4;
  const int64_t launches = fluxion::kernel_emulation::launch_count();
  const auto f32 = kernels::Dtype::Float32;
  kernels::norm_modulate_forward(nullptr, f32, nullptr, nullptr, nullptr, f32, nullptr, f32, nullptr, nullptr, shape,
                                 1e-6f, nullptr);
  kernels::norm_modulate_backward_input(nullptr, f32, nullptr, f32, nullptr, nullptr, f32, nullptr, nullptr, nullptr,
                                        shape, nullptr);
  kernels::norm_modulate_backward_modulation(nullptr, f32, nullptr, f32, nullptr, nullptr, f32, nullptr, nullptr,
                                             nullptr, nullptr, nullptr, shape, nullptr);
  CHECK(fluxion::kernel_emulation::launch_count() == launches);
}
