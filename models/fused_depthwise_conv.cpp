#include "models/fused_depthwise_conv.h"

#if FLUXION_CUDA_KERNELS
#include "core/compat.h"
#include "models/cuda/depthwise_conv_kernels.h"
#include "models/fused_kernels.h"
#include "models/kernel_tensors.h"
#endif

namespace fluxion::models {

#if FLUXION_CUDA_KERNELS
namespace {
using kernel_tensors::kernel_type;

cuda::DepthwiseConvShape conv_shape(const torch::Tensor& x, int64_t kernel_size, int64_t grid_h, int64_t grid_w) {
  cuda::DepthwiseConvShape shape;
  shape.samples = x.size(0);
  shape.tokens = x.size(1);
  shape.channels = x.size(2);
  shape.grid_h = grid_h;
  shape.grid_w = grid_w;
  shape.prefix = shape.tokens - grid_h * grid_w;
  shape.kernel_size = static_cast<int>(kernel_size);
  return shape;
}

class DepthwiseConvAddFunction : public torch::autograd::Function<DepthwiseConvAddFunction> {
 public:
  // bias: zeros where the convolution has none (LibTorch 1.13's custom functions take no undefined
  // inputs); its gradient is then simply not used.
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& base_in,
                               const torch::Tensor& x_in, const torch::Tensor& weight, const torch::Tensor& bias,
                               int64_t grid_h, int64_t grid_w, int64_t out_type) {
    const auto base = base_in.contiguous(), x = x_in.contiguous();
    // (C, 1, K, K) -> (C, K * K) float32
    const auto taps = weight.to(torch::kFloat).reshape({weight.size(0), -1}).contiguous();
    const auto bias32 = bias.to(torch::kFloat).contiguous();
    const auto shape = conv_shape(x, weight.size(-1), grid_h, grid_w);
    auto out = torch::empty(x.sizes(), x.options().dtype(static_cast<c10::ScalarType>(out_type)));
    cuda::depthwise_conv_add_forward(base.data_ptr(), kernel_type(base), x.data_ptr(), kernel_type(x),
                                     taps.data_ptr<float>(), bias32.data_ptr<float>(), out.data_ptr(), kernel_type(out),
                                     shape, kernel_tensors::stream());
    ctx->save_for_backward({x, taps});
    ctx->saved_data["kernel_size"] = weight.size(-1);
    ctx->saved_data["grid_h"] = grid_h;
    ctx->saved_data["grid_w"] = grid_w;
    ctx->saved_data["base_type"] = static_cast<int64_t>(base.scalar_type());
    ctx->saved_data["weight_type"] = static_cast<int64_t>(weight.scalar_type());
    ctx->saved_data["bias_type"] = static_cast<int64_t>(bias.scalar_type());
    return out;
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &x = saved[0], &taps = saved[1];
    // in the output's type (autograd casts to it), which apply() admits only as float32 or bf16
    const auto grad = grads[0].contiguous();
    const auto shape = conv_shape(x, ctx->saved_data["kernel_size"].toInt(), ctx->saved_data["grid_h"].toInt(),
                                  ctx->saved_data["grid_w"].toInt());
    const auto type_of = [&](const char* key) { return static_cast<c10::ScalarType>(ctx->saved_data[key].toInt()); };
    auto dx = torch::empty_like(x);
    cuda::depthwise_conv_backward_input(grad.data_ptr(), kernel_type(grad), taps.data_ptr<float>(), dx.data_ptr(),
                                        kernel_type(x), shape, kernel_tensors::stream());
    const int64_t sums = taps.size(1) + 1;
    // (splits, K * K + 1, C) partial sums -> (K * K + 1, C), summed in a fixed order
    auto partial = torch::empty({cuda::depthwise_conv_weight_splits(shape), sums, shape.channels},
                                x.options().dtype(torch::kFloat));
    cuda::depthwise_conv_backward_weight(grad.data_ptr(), kernel_type(grad), x.data_ptr(), kernel_type(x),
                                         partial.data_ptr<float>(), shape, kernel_tensors::stream());
    const auto total = partial.sum(0);
    // (K * K, C) -> (C, 1, K, K)
    const auto dweight =
        total.narrow(0, 0, sums - 1).t().reshape({shape.channels, 1, shape.kernel_size, shape.kernel_size});
    const auto dbias = total.select(0, sums - 1);
    return {grads[0].to(type_of("base_type")),
            dx,
            dweight.to(type_of("weight_type")),
            dbias.to(type_of("bias_type")),
            torch::Tensor(),
            torch::Tensor(),
            torch::Tensor()};
  }
};

// The type eager execution would give base + conv(x): autocast's (the convolution's output, then
// the sum of two tensors of that type), else the promoted one.
std::optional<c10::ScalarType> output_type(const torch::Tensor& base, const torch::Tensor& x,
                                           const torch::Tensor& weight) {
  const auto autocast = compat::active_autocast_dtype(x.device().type());
  const auto type =
      autocast ? torch::promote_types(base.scalar_type(), *autocast)
               : torch::promote_types(base.scalar_type(), torch::promote_types(x.scalar_type(), weight.scalar_type()));
  if (type != torch::kFloat && type != torch::kBFloat16) return std::nullopt;
  return type;
}
}  // namespace
#endif

std::optional<torch::Tensor> fused_depthwise_conv_add(const torch::Tensor& base, const torch::Tensor& x,
                                                      const torch::Tensor& weight, const torch::Tensor& bias,
                                                      int64_t grid_h, int64_t grid_w) {
#if FLUXION_CUDA_KERNELS
  if (!fused_kernels_enabled() || !kernel_tensors::on_kernel_device(x) || x.dim() != 3 || base.sizes() != x.sizes() ||
      !kernel_tensors::supported_type(x) || !kernel_tensors::supported_type(base))
    return std::nullopt;
  const int64_t channels = x.size(2);
  if (weight.dim() != 4 || weight.size(0) != channels || weight.size(1) != 1 || weight.size(2) != weight.size(3) ||
      !cuda::depthwise_kernel_size_supported(weight.size(3)) || grid_h <= 0 || grid_w <= 0 ||
      grid_h * grid_w > x.size(1) || (bias.defined() && bias.numel() != channels))
    return std::nullopt;
  const auto type = output_type(base, x, weight);
  if (!type) return std::nullopt;
  const auto bias_or_zeros = bias.defined() ? bias : torch::zeros({channels}, weight.options());
  return DepthwiseConvAddFunction::apply(base, x, weight, bias_or_zeros, grid_h, grid_w, static_cast<int64_t>(*type));
#else
  (void)base;
  (void)x;
  (void)weight;
  (void)bias;
  (void)grid_h;
  (void)grid_w;
  return std::nullopt;
#endif
}

torch::Tensor depthwise_conv_add_unfused(const torch::Tensor& base, const torch::Tensor& x, const torch::Tensor& weight,
                                         const torch::Tensor& bias, int64_t grid_h, int64_t grid_w) {
  const int64_t B = x.size(0), N = x.size(1), C = x.size(2);
  const int64_t grid = grid_h * grid_w, prefix = N - grid;
  // (B, G, C) -> (B, C, h, w)
  auto tokens = x.narrow(1, prefix, grid).transpose(1, 2).reshape({B, C, grid_h, grid_w});
  // (B, C, h, w) -> (B, G, C)
  auto local = torch::conv2d(tokens, weight, bias, 1, weight.size(-1) / 2, 1, C).flatten(2).transpose(1, 2);
  if (prefix > 0) local = torch::cat({torch::zeros({B, prefix, C}, local.options()), local}, 1);
  return base + local;
}

torch::Tensor depthwise_conv_add(const torch::Tensor& base, const torch::Tensor& x, const torch::Tensor& weight,
                                 const torch::Tensor& bias, int64_t grid_h, int64_t grid_w) {
  if (auto fused = fused_depthwise_conv_add(base, x, weight, bias, grid_h, grid_w)) return *fused;
  return depthwise_conv_add_unfused(base, x, weight, bias, grid_h, grid_w);
}

}  // namespace fluxion::models
