#include "models/fused_rope.h"

#if FLUXION_CUDA_KERNELS
#include "models/cuda/rope_kernels.h"
#include "models/fused_kernels.h"
#include "models/kernel_tensors.h"
#endif

namespace fluxion::models {

#if FLUXION_CUDA_KERNELS
namespace {
using kernel_tensors::with_contiguous_channels;
cuda::RopeShape shape_of(const torch::Tensor& t) { return cuda::rope_shape(t.sizes().data(), t.strides().data()); }

class RopeFunction : public torch::autograd::Function<RopeFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x_in,
                               const torch::Tensor& cos, const torch::Tensor& sin) {
    const auto x = with_contiguous_channels(x_in);
    auto y = torch::empty(x.sizes(), x.options().memory_format(torch::MemoryFormat::Contiguous));
    cuda::rope_forward(x.data_ptr(), kernel_tensors::kernel_type(x), cos.data_ptr<float>(), sin.data_ptr<float>(),
                       y.data_ptr(), shape_of(x), kernel_tensors::stream());
    ctx->save_for_backward({cos, sin});
    return y;
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto dy = with_contiguous_channels(grads[0]);
    auto dx = torch::empty(dy.sizes(), dy.options().memory_format(torch::MemoryFormat::Contiguous));
    cuda::rope_backward(dy.data_ptr(), kernel_tensors::kernel_type(dy), saved[0].data_ptr<float>(),
                        saved[1].data_ptr<float>(), dx.data_ptr(), shape_of(dy), kernel_tensors::stream());
    return {dx, torch::Tensor(), torch::Tensor()};
  }
};
}  // namespace
#endif

std::optional<torch::Tensor> fused_rope(const torch::Tensor& x, const RopeTables& rope) {
#if FLUXION_CUDA_KERNELS
  if (fused_kernels_enabled() && kernel_tensors::on_kernel_device(x) && x.dim() == 4 && x.size(3) % 2 == 0 &&
      kernel_tensors::supported_type(x) && rope.defined() && rope.cos.dim() == 2 && rope.cos.size(0) == x.size(2) &&
      rope.cos.size(1) == x.size(3) && rope.sin.sizes() == rope.cos.sizes()) {
    // (N, d) float32 tables on x's device; JiT keeps them there, so these are no-ops
    const auto cos = rope.cos.to(x.device(), torch::kFloat).contiguous();
    const auto sin = rope.sin.to(x.device(), torch::kFloat).contiguous();
    return RopeFunction::apply(x, cos, sin);
  }
#else
  (void)x;
  (void)rope;
#endif
  return std::nullopt;
}

}  // namespace fluxion::models
