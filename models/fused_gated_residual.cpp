#include "models/fused_gated_residual.h"

#if FLUXION_CUDA_KERNELS
#include "models/cuda/gated_residual_kernels.h"
#include "models/fused_kernels.h"
#include "models/kernel_tensors.h"
#endif

namespace fluxion::models {

#if FLUXION_CUDA_KERNELS
namespace {
using kernel_tensors::kernel_type;

class GatedResidualFunction : public torch::autograd::Function<GatedResidualFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& gate,
                               const torch::Tensor& y) {
    // (B, D) -> (B, 1, D) gate; the product kept in float32 under autocast, as the unfused path
    auto out = torch::addcmul(x, gate.unsqueeze(1), y);
    ctx->save_for_backward({gate, y.contiguous()});
    ctx->saved_data["x_type"] = static_cast<int64_t>(x.scalar_type());
    return out;
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &gate = saved[0], &y = saved[1];
    const auto grad = grads[0].contiguous();
    const auto x_type = static_cast<c10::ScalarType>(ctx->saved_data["x_type"].toInt());
    torch::Tensor dy, dgate;
    if (kernel_tensors::supported_type(grad)) {
      cuda::GatedResidualShape shape;
      shape.samples = y.size(0);
      shape.tokens = y.size(1);
      shape.dim = y.size(2);
      shape.gate_stride = gate.stride(0);
      dy = torch::empty_like(y);
      auto sums = torch::empty({shape.samples, shape.dim}, y.options().dtype(torch::kFloat));  // (B, D)
      cuda::gated_residual_backward(grad.data_ptr(), kernel_type(grad), gate.data_ptr(), kernel_type(gate),
                                    y.data_ptr(), kernel_type(y), dy.data_ptr(), sums.data_ptr<float>(), shape,
                                    kernel_tensors::stream());
      dgate = sums.to(gate.scalar_type());
    } else {  // a gradient in another type (float64 checks): the unfused backward
      dy = (grad * gate.unsqueeze(1)).to(y.scalar_type());
      dgate = (grad * y).sum(1).to(gate.scalar_type());
    }
    return {grad.to(x_type), dgate, dy};
  }
};
}  // namespace
#endif

std::optional<torch::Tensor> fused_gated_residual(const torch::Tensor& x, const torch::Tensor& gate,
                                                  const torch::Tensor& y) {
#if FLUXION_CUDA_KERNELS
  const bool wants_gradient =
      torch::GradMode::is_enabled() && (x.requires_grad() || gate.requires_grad() || y.requires_grad());
  if (wants_gradient && fused_kernels_enabled() && kernel_tensors::on_kernel_device(x) && x.dim() == 3 &&
      y.sizes() == x.sizes() && gate.dim() == 2 && gate.size(0) == x.size(0) && gate.size(1) == x.size(2) &&
      gate.stride(1) == 1 && kernel_tensors::supported_type(gate) && kernel_tensors::supported_type(y))
    return GatedResidualFunction::apply(x, gate, y);
#else
  (void)x;
  (void)gate;
  (void)y;
#endif
  return std::nullopt;
}

}  // namespace fluxion::models
