#include "models/norm_modulate.h"

#include "core/compat.h"
#include "models/layers.h"

#if FLUXION_CUDA_KERNELS
#include "models/cuda/norm_modulate_kernels.h"
#include "models/fused_kernels.h"
#include "models/kernel_tensors.h"
#endif

namespace fluxion::models {

#if FLUXION_CUDA_KERNELS
namespace {
using kernel_tensors::kernel_type;

cuda::NormModulateShape shape_of(const torch::Tensor& x, const torch::Tensor& modulation) {
  cuda::NormModulateShape shape;
  shape.rows = x.size(0) * x.size(1);
  shape.dim = x.size(2);
  shape.tokens = x.size(1);
  shape.mod_stride = modulation.stride(0);
  return shape;
}

// Shift and scale as the kernels read them: unit stride along D and one row stride for both.
// The chunks of one adaLN output, (B, D) views with row stride 6D, qualify as they are.
std::pair<torch::Tensor, torch::Tensor> kernel_modulation(const torch::Tensor& shift, const torch::Tensor& scale) {
  if (shift.stride(1) == 1 && scale.stride(1) == 1 && shift.stride(0) == scale.stride(0)) return {shift, scale};
  return {shift.contiguous(), scale.contiguous()};
}

const float* weight_pointer(const torch::Tensor& rms_weight) {
  return rms_weight.defined() ? rms_weight.data_ptr<float>() : nullptr;
}

// The forward kernel for LayerNorm (rms_weight undefined) or RMSNorm; saves what backward needs.
torch::Tensor norm_modulate_forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x_in,
                                    const torch::Tensor& rms_weight, const torch::Tensor& shift_in,
                                    const torch::Tensor& scale_in, int64_t out_type, double eps) {
  const auto x = x_in.contiguous();
  const auto [shift, scale] = kernel_modulation(shift_in, scale_in);  // one dtype (the callers check)
  // (B, N, D) -> (B, N, D) in out_type; mean and rstd (B * N) float32
  auto y = torch::empty(x.sizes(), x.options().dtype(static_cast<c10::ScalarType>(out_type)));
  auto stats = torch::empty({2, x.size(0) * x.size(1)}, x.options().dtype(torch::kFloat));
  auto mean = stats[0], rstd = stats[1];
  cuda::norm_modulate_forward(x.data_ptr(), kernel_type(x), weight_pointer(rms_weight), shift.data_ptr(),
                              scale.data_ptr(), kernel_type(scale), y.data_ptr(), kernel_type(y),
                              mean.data_ptr<float>(), rstd.data_ptr<float>(), shape_of(x, shift),
                              static_cast<float>(eps), kernel_tensors::stream());
  ctx->save_for_backward({x, rms_weight, scale, mean, rstd});
  return y;
}

struct NormModulateGradients {
  torch::Tensor dx, dweight, dshift, dscale;  // dweight only for RMSNorm
};

NormModulateGradients norm_modulate_backward(torch::autograd::AutogradContext* ctx, const torch::Tensor& grad) {
  const auto saved = ctx->get_saved_variables();
  const auto &x = saved[0], &rms_weight = saved[1], &scale = saved[2], &mean = saved[3], &rstd = saved[4];
  const auto dy = grad.contiguous();
  const auto shape = shape_of(x, scale);
  const auto stream = kernel_tensors::stream();
  NormModulateGradients out;
  out.dx = torch::empty_like(x);
  cuda::norm_modulate_backward_input(dy.data_ptr(), kernel_type(dy), x.data_ptr(), kernel_type(x),
                                     weight_pointer(rms_weight), scale.data_ptr(), kernel_type(scale),
                                     mean.data_ptr<float>(), rstd.data_ptr<float>(), out.dx.data_ptr(), shape, stream);
  // (B, D) float32 sums over the tokens: shift, scale and (RMSNorm) each sample's weight share
  auto sums = torch::empty({rms_weight.defined() ? 3 : 2, x.size(0), x.size(2)}, x.options().dtype(torch::kFloat));
  cuda::norm_modulate_backward_modulation(
      dy.data_ptr(), kernel_type(dy), x.data_ptr(), kernel_type(x), weight_pointer(rms_weight), scale.data_ptr(),
      kernel_type(scale), mean.data_ptr<float>(), rstd.data_ptr<float>(), sums[0].data_ptr<float>(),
      sums[1].data_ptr<float>(), rms_weight.defined() ? sums[2].data_ptr<float>() : nullptr, shape, stream);
  out.dshift = sums[0].to(scale.scalar_type());
  out.dscale = sums[1].to(scale.scalar_type());
  if (rms_weight.defined()) out.dweight = sums[2].sum(0);  // (B, D) -> (D), float32 as the weight
  return out;
}

class NormModulateFunction : public torch::autograd::Function<NormModulateFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& shift, const torch::Tensor& scale, int64_t out_type, double eps) {
    return norm_modulate_forward(ctx, x, torch::Tensor(), shift, scale, out_type, eps);
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    auto g = norm_modulate_backward(ctx, grads[0]);
    return {g.dx, g.dshift, g.dscale, torch::Tensor(), torch::Tensor()};
  }
};

class RmsNormModulateFunction : public torch::autograd::Function<RmsNormModulateFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& weight, const torch::Tensor& shift, const torch::Tensor& scale,
                               int64_t out_type, double eps) {
    return norm_modulate_forward(ctx, x, weight.contiguous(), shift, scale, out_type, eps);
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    auto g = norm_modulate_backward(ctx, grads[0]);
    return {g.dx, g.dweight, g.dshift, g.dscale, torch::Tensor(), torch::Tensor()};
  }
};

// The dtype eager execution would hand the next linear layer (autocast's, else the promoted one)
// when the kernels take these tensors; nothing otherwise.
std::optional<c10::ScalarType> kernel_output_type(const torch::Tensor& x, const torch::Tensor& shift,
                                                  const torch::Tensor& scale) {
  if (!fused_kernels_enabled() || !kernel_tensors::on_kernel_device(x) || x.dim() != 3 || x.size(1) == 0 ||
      !kernel_tensors::supported_type(x) || !kernel_tensors::supported_type(shift) ||
      shift.scalar_type() != scale.scalar_type())
    return std::nullopt;
  const auto autocast = compat::active_autocast_dtype(x.device().type());
  const auto out_type = autocast ? *autocast : torch::promote_types(x.scalar_type(), shift.scalar_type());
  if (out_type != torch::kFloat && out_type != torch::kBFloat16) return std::nullopt;
  return out_type;
}
}  // namespace
#endif

torch::Tensor norm_modulate(const torch::Tensor& x, const torch::Tensor& shift, const torch::Tensor& scale,
                            double eps) {
#if FLUXION_CUDA_KERNELS
  if (const auto out_type = kernel_output_type(x, shift, scale))
    return NormModulateFunction::apply(x, shift, scale, static_cast<int64_t>(*out_type), eps);
#endif
  return modulate(plain_layer_norm(x, eps), shift, scale);
}

torch::Tensor rms_norm_modulate(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& shift,
                                const torch::Tensor& scale, double eps) {
#if FLUXION_CUDA_KERNELS
  // the kernels read a float32 weight (the parameter's own type; RMSNorm computes in float32)
  if (weight.scalar_type() == torch::kFloat && weight.dim() == 1 && weight.device() == x.device()) {
    if (const auto out_type = kernel_output_type(x, shift, scale))
      return RmsNormModulateFunction::apply(x, weight, shift, scale, static_cast<int64_t>(*out_type), eps);
  }
#endif
  return modulate(rms_norm(x, weight, eps), shift, scale);
}

}  // namespace fluxion::models
