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

class NormModulateFunction : public torch::autograd::Function<NormModulateFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x_in,
                               const torch::Tensor& shift_in, const torch::Tensor& scale_in, int64_t out_type,
                               double eps) {
    const auto x = x_in.contiguous();
    const auto [shift, scale] = kernel_modulation(shift_in, scale_in);  // one dtype (norm_modulate checks)
    // (B, N, D) -> (B, N, D) in out_type; mean and rstd (B * N) float32
    auto y = torch::empty(x.sizes(), x.options().dtype(static_cast<c10::ScalarType>(out_type)));
    auto stats = torch::empty({2, x.size(0) * x.size(1)}, x.options().dtype(torch::kFloat));
    auto mean = stats[0], rstd = stats[1];
    cuda::norm_modulate_forward(x.data_ptr(), kernel_type(x.scalar_type()), shift.data_ptr(), scale.data_ptr(),
                                kernel_type(scale.scalar_type()), y.data_ptr(), kernel_type(y.scalar_type()),
                                mean.data_ptr<float>(), rstd.data_ptr<float>(), shape_of(x, shift),
                                static_cast<float>(eps), kernel_tensors::stream());
    ctx->save_for_backward({x, scale, mean, rstd});
    return y;
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &x = saved[0], &scale = saved[1], &mean = saved[2], &rstd = saved[3];
    const auto dy = grads[0].contiguous();
    const auto shape = shape_of(x, scale);
    const auto stream = kernel_tensors::stream();
    auto dx = torch::empty_like(x);
    cuda::norm_modulate_backward_input(dy.data_ptr(), kernel_type(dy.scalar_type()), x.data_ptr(),
                                       kernel_type(x.scalar_type()), scale.data_ptr(), kernel_type(scale.scalar_type()),
                                       mean.data_ptr<float>(), rstd.data_ptr<float>(), dx.data_ptr(), shape, stream);
    // (B, D) float32 sums over the tokens, then the dtype shift and scale came in
    auto dmod = torch::empty({2, x.size(0), x.size(2)}, x.options().dtype(torch::kFloat));
    cuda::norm_modulate_backward_modulation(dy.data_ptr(), kernel_type(dy.scalar_type()), x.data_ptr(),
                                            kernel_type(x.scalar_type()), mean.data_ptr<float>(),
                                            rstd.data_ptr<float>(), dmod[0].data_ptr<float>(),
                                            dmod[1].data_ptr<float>(), shape, stream);
    dmod = dmod.to(scale.scalar_type());
    return {dx, dmod[0], dmod[1], torch::Tensor(), torch::Tensor()};
  }
};
}  // namespace
#endif

torch::Tensor norm_modulate(const torch::Tensor& x, const torch::Tensor& shift, const torch::Tensor& scale,
                            double eps) {
#if FLUXION_CUDA_KERNELS
  if (fused_kernels_enabled() && kernel_tensors::on_kernel_device(x) && x.dim() == 3 && x.size(1) > 0 &&
      kernel_tensors::supported_type(x) && kernel_tensors::supported_type(shift) &&
      shift.scalar_type() == scale.scalar_type()) {
    // the dtype eager execution would hand the next linear layer: autocast's, else the promoted one
    const auto autocast = compat::active_autocast_dtype(x.device().type());
    const auto out_type = autocast ? *autocast : torch::promote_types(x.scalar_type(), shift.scalar_type());
    if (out_type == torch::kFloat || out_type == torch::kBFloat16)
      return NormModulateFunction::apply(x, shift, scale, static_cast<int64_t>(out_type), eps);
  }
#endif
  return modulate(plain_layer_norm(x, eps), shift, scale);
}

}  // namespace fluxion::models
