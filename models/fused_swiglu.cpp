#include "models/fused_swiglu.h"

#if FLUXION_CUDA_KERNELS
#include "models/cuda/swiglu_kernels.h"
#include "models/fused_kernels.h"
#include "models/kernel_tensors.h"
#endif

namespace fluxion::models {

#if FLUXION_CUDA_KERNELS
namespace {
class SwiGLUFunction : public torch::autograd::Function<SwiGLUFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x_in) {
    const auto x = x_in.contiguous();
    const int64_t hidden = x.size(-1) / 2;
    auto shape = x.sizes().vec();
    shape.back() = hidden;
    auto y = torch::empty(shape, x.options());  // (..., 2h) -> (..., h)
    cuda::swiglu_forward(x.data_ptr(), y.data_ptr(), kernel_tensors::kernel_type(x), x.numel() / (2 * hidden), hidden,
                         kernel_tensors::stream());
    ctx->save_for_backward({x});
    return y;
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const auto x = ctx->get_saved_variables()[0];
    const auto dy = grads[0].to(x.scalar_type()).contiguous();
    const int64_t hidden = x.size(-1) / 2;
    auto dx = torch::empty_like(x);
    cuda::swiglu_backward(dy.data_ptr(), x.data_ptr(), dx.data_ptr(), kernel_tensors::kernel_type(x),
                          x.numel() / (2 * hidden), hidden, kernel_tensors::stream());
    return {dx};
  }
};
}  // namespace
#endif

std::optional<torch::Tensor> fused_swiglu(const torch::Tensor& x) {
#if FLUXION_CUDA_KERNELS
  if (fused_kernels_enabled() && kernel_tensors::on_kernel_device(x) && x.dim() >= 1 && x.size(-1) % 2 == 0 &&
      x.size(-1) > 0 && kernel_tensors::supported_type(x))
    return SwiGLUFunction::apply(x);
#else
  (void)x;
#endif
  return std::nullopt;
}

}  // namespace fluxion::models
