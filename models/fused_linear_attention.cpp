#include "models/fused_linear_attention.h"

#include "core/compat.h"

#if FLUXION_CUDA_KERNELS
#include "models/cuda/linear_attention_kernels.h"
#include "models/fused_kernels.h"
#include "models/kernel_tensors.h"
#endif

namespace fluxion::models {

#if FLUXION_CUDA_KERNELS
namespace {
using kernel_tensors::kernel_type;
using kernel_tensors::with_contiguous_channels;

void copy_strides(const torch::Tensor& t, int64_t (&strides)[3]) {
  for (int i = 0; i < 3; ++i) strides[i] = t.stride(i);
}

cuda::LinearAttentionShape shape_of(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v) {
  cuda::LinearAttentionShape s;
  s.batch = q.size(0);
  s.heads = q.size(1);
  s.tokens = q.size(2);
  s.dim = q.size(3);
  copy_strides(q, s.q_strides);
  copy_strides(k, s.k_strides);
  copy_strides(v, s.v_strides);
  return s;
}

// (1, H, N, 1) gate -> (H, N) float32 for the kernels
torch::Tensor kernel_gate(const torch::Tensor& gate) {
  return gate.reshape({gate.size(1), gate.size(2)}).to(torch::kFloat).contiguous();
}

class LinearAttentionFunction : public torch::autograd::Function<LinearAttentionFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& q_in,
                               const torch::Tensor& k_in, const torch::Tensor& v_in, const torch::Tensor& key_gate,
                               const torch::Tensor& value_gate, double feature_eps, double denominator_eps) {
    compat::AutocastOffGuard autocast_off;  // the state products run in float32
    const auto q = with_contiguous_channels(q_in), k = with_contiguous_channels(k_in),
               v = with_contiguous_channels(v_in);
    const auto shape = shape_of(q, k, v);
    const int64_t B = shape.batch, H = shape.heads, N = shape.tokens, d = shape.dim;
    const auto f32 = q.options().dtype(torch::kFloat);
    const auto gk = kernel_gate(key_gate), gv = kernel_gate(value_gate);
    // (B, H, N, d) phi(q) and gated phi(k); (B, H, N, d + 1) gated v with a column of ones
    auto phi_q = torch::empty({B, H, N, d}, f32), phi_k = torch::empty({B, H, N, d}, f32);
    auto v_ones = torch::empty({B, H, N, d + 1}, f32);
    cuda::linear_attention_features(q.data_ptr(), k.data_ptr(), v.data_ptr(), kernel_type(q), gk.data_ptr<float>(),
                                    gv.data_ptr<float>(), static_cast<float>(feature_eps), phi_q.data_ptr<float>(),
                                    phi_k.data_ptr<float>(), v_ones.data_ptr<float>(), shape, kernel_tensors::stream());
    // (B, H, d, N) x (B, H, N, d + 1) -> (B, H, d, d + 1): mean outer products | mean key feature
    auto state = torch::matmul(phi_k.transpose(-2, -1), v_ones).mul_(1.0 / static_cast<double>(N));
    // (B, H, N, d) x (B, H, d, d + 1) -> (B, H, N, d + 1): numerator | denominator
    auto out = torch::matmul(phi_q, state);
    auto o = torch::empty({B, H, N, d}, f32);
    cuda::linear_attention_normalize(out.data_ptr<float>(), static_cast<float>(denominator_eps), o.data_ptr<float>(),
                                     shape, kernel_tensors::stream());
    ctx->save_for_backward({q, k, v, gk, gv, phi_q, phi_k, v_ones, state, out});
    ctx->saved_data["feature_eps"] = feature_eps;
    ctx->saved_data["denominator_eps"] = denominator_eps;
    ctx->saved_data["key_gate_type"] = static_cast<int64_t>(key_gate.scalar_type());
    ctx->saved_data["value_gate_type"] = static_cast<int64_t>(value_gate.scalar_type());
    return o;
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    compat::AutocastOffGuard autocast_off;
    const auto saved = ctx->get_saved_variables();
    const auto &q = saved[0], &k = saved[1], &v = saved[2], &gk = saved[3], &gv = saved[4];
    const auto &phi_q = saved[5], &phi_k = saved[6], &v_ones = saved[7], &state = saved[8], &out = saved[9];
    const auto shape = shape_of(q, k, v);
    const int64_t B = shape.batch, H = shape.heads, N = shape.tokens, d = shape.dim;
    const auto stream = kernel_tensors::stream();
    const auto d_o = grads[0].contiguous();  // float32, as the output
    // (B, H, N, d) -> (B, H, N, d + 1): the gradient of numerator | denominator
    auto d_out = torch::empty({B, H, N, d + 1}, out.options());
    cuda::linear_attention_normalize_backward(d_o.data_ptr(), kernel_type(d_o), out.data_ptr<float>(),
                                              static_cast<float>(ctx->saved_data["denominator_eps"].toDouble()),
                                              d_out.data_ptr<float>(), shape, stream);
    // out = phi_q state: (B, H, N, d + 1) x (B, H, d + 1, d) -> (B, H, N, d) and
    // (B, H, d, N) x (B, H, N, d + 1) -> (B, H, d, d + 1), the latter scaled as state is
    auto d_phi_q = torch::matmul(d_out, state.transpose(-2, -1));
    auto d_state = torch::matmul(phi_q.transpose(-2, -1), d_out).mul_(1.0 / static_cast<double>(N));
    // state = phi_k^T v_ones / N: (B, H, N, d + 1) x (B, H, d + 1, d) -> (B, H, N, d) and
    // (B, H, N, d) x (B, H, d, d + 1) -> (B, H, N, d + 1)
    auto d_phi_k = torch::matmul(v_ones, d_state.transpose(-2, -1));
    auto d_v_ones = torch::matmul(phi_k, d_state);
    auto dq = torch::empty({B, H, N, d}, q.options()), dk = torch::empty({B, H, N, d}, k.options()),
         dv = torch::empty({B, H, N, d}, v.options());
    // (B, H, N) per-row gate sums, summed over B below
    auto rows = torch::empty({2, B, H, N}, out.options());
    cuda::linear_attention_features_backward(
        q.data_ptr(), k.data_ptr(), v.data_ptr(), kernel_type(q), gk.data_ptr<float>(), gv.data_ptr<float>(),
        static_cast<float>(ctx->saved_data["feature_eps"].toDouble()), d_phi_q.data_ptr<float>(),
        d_phi_k.data_ptr<float>(), d_v_ones.data_ptr<float>(), dq.data_ptr(), dk.data_ptr(), dv.data_ptr(),
        rows[0].data_ptr<float>(), rows[1].data_ptr<float>(), shape, stream);
    auto gate_grad = [&](int which, const char* type_key) {
      const auto type = static_cast<c10::ScalarType>(ctx->saved_data[type_key].toInt());
      // (B, H, N) -> (1, H, N, 1)
      return rows[which].sum(0).reshape({1, H, N, 1}).to(type);
    };
    return {
        dq, dk, dv, gate_grad(0, "key_gate_type"), gate_grad(1, "value_gate_type"), torch::Tensor(), torch::Tensor()};
  }
};

bool gate_fits(const torch::Tensor& gate, const torch::Tensor& q) {
  return !gate.defined() ||
         (gate.dim() == 4 && gate.size(0) == 1 && gate.size(1) == q.size(1) && gate.size(2) == q.size(2) &&
          gate.size(3) == 1 && gate.device() == q.device() && kernel_tensors::supported_type(gate));
}
}  // namespace
#endif

std::optional<torch::Tensor> fused_linear_attention(const torch::Tensor& q, const torch::Tensor& k,
                                                    const torch::Tensor& v, const torch::Tensor& key_gate,
                                                    const torch::Tensor& value_gate, const LinearAttentionEps& eps) {
#if FLUXION_CUDA_KERNELS
  if (fused_kernels_enabled() && kernel_tensors::on_kernel_device(q) && q.dim() == 4 && k.sizes() == q.sizes() &&
      v.sizes() == q.sizes() && kernel_tensors::supported_type(q) && k.scalar_type() == q.scalar_type() &&
      v.scalar_type() == q.scalar_type() && q.size(2) > 0 && gate_fits(key_gate, q) && gate_fits(value_gate, q)) {
    // LibTorch 1.13's custom functions take no undefined inputs: a missing gate is a gate of ones,
    // which changes no value (x * 1 is exact)
    auto gate_or_ones = [&](const torch::Tensor& gate) {
      return gate.defined() ? gate : torch::ones({1, q.size(1), q.size(2), 1}, q.options().dtype(torch::kFloat));
    };
    return LinearAttentionFunction::apply(q, k, v, gate_or_ones(key_gate), gate_or_ones(value_gate), eps.feature,
                                          eps.denominator);
  }
#else
  (void)q;
  (void)k;
  (void)v;
  (void)key_gate;
  (void)value_gate;
  (void)eps;
#endif
  return std::nullopt;
}

}  // namespace fluxion::models
