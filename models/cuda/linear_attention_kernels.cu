// Elementwise parts of LINA linear attention (models/cuda/linear_attention_kernels.h): one warp per
// (b, h, n) row, its lanes striding over the d channels, so that row sums are warp shuffles.
#include "models/cuda/linear_attention_kernels.h"

#include "models/cuda/device_math.cuh"
#include "models/cuda/launch.h"

namespace fluxion::models::cuda {

namespace {
constexpr int kWarpsPerBlock = 8;
constexpr int kThreads = 32 * kWarpsPerBlock;

struct Row {
  int64_t index;  // over (B, H, N)
  int64_t b, h, n;
  int lane;
};

// This warp's row, or index -1 past the end (the whole warp returns together).
__device__ __forceinline__ Row warp_row(const LinearAttentionShape& s) {
  Row r;
  r.lane = threadIdx.x & 31;
  r.index = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + (threadIdx.x >> 5);
  if (r.index >= s.batch * s.heads * s.tokens) {
    r.index = -1;
    return r;
  }
  r.n = r.index % s.tokens;
  r.h = (r.index / s.tokens) % s.heads;
  r.b = r.index / (s.tokens * s.heads);
  return r;
}

__device__ __forceinline__ int64_t offset(const int64_t strides[3], const Row& r) {
  return r.b * strides[0] + r.h * strides[1] + r.n * strides[2];
}

// A row's q, k and v (strided) and its two gate values (1 where there is no gate).
template <typename T>
struct RowInputs {
  const T *q, *k, *v;
  float key_gate, value_gate;
};

template <typename T>
__device__ __forceinline__ RowInputs<T> row_inputs(const T* q, const T* k, const T* v, const float* key_gate,
                                                   const float* value_gate, const LinearAttentionShape& s,
                                                   const Row& r) {
  const int64_t gate_at = r.h * s.tokens + r.n;
  return {q + offset(s.q_strides, r), k + offset(s.k_strides, r), v + offset(s.v_strides, r),
          key_gate ? key_gate[gate_at] : 1.0f, value_gate ? value_gate[gate_at] : 1.0f};
}

// ReLU as torch.relu: NaN passes through (a plain max would turn it into 0 and hide a diverged step)
__device__ __forceinline__ float relu(float x) { return (x > 0.0f || x != x) ? x : 0.0f; }

__device__ __forceinline__ float warp_sum(float value) {
  for (int step = 16; step > 0; step >>= 1) value += __shfl_xor_sync(0xffffffffu, value, step);
  return value;
}

template <typename T>
__global__ void features_kernel(const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v,
                                const float* __restrict__ key_gate, const float* __restrict__ value_gate,
                                float feature_eps, float* __restrict__ phi_q, float* __restrict__ phi_k,
                                float* __restrict__ v_ones, LinearAttentionShape s) {
  const Row r = warp_row(s);
  if (r.index < 0) return;
  const auto in = row_inputs(q, k, v, key_gate, value_gate, s, r);
  float* pq = phi_q + r.index * s.dim;
  float* pk = phi_k + r.index * s.dim;
  float* vo = v_ones + r.index * (s.dim + 1);
  for (int64_t c = r.lane; c < s.dim; c += 32) {
    pq[c] = relu(to_float(in.q[c])) + feature_eps;
    // the unfused ops round (relu(k) + eps) before the gate product, as this does
    pk[c] = (relu(to_float(in.k[c])) + feature_eps) * in.key_gate;
    vo[c] = to_float(in.v[c]) * in.value_gate;
  }
  if (r.lane == 0) vo[s.dim] = 1.0f;
}

__global__ void normalize_kernel(const float* __restrict__ out, float denominator_eps, float* __restrict__ o,
                                 LinearAttentionShape s) {
  const Row r = warp_row(s);
  if (r.index < 0) return;
  const float* row = out + r.index * (s.dim + 1);
  const float denominator = row[s.dim] + denominator_eps;
  for (int64_t c = r.lane; c < s.dim; c += 32) o[r.index * s.dim + c] = row[c] / denominator;
}

template <typename G>
__global__ void normalize_backward_kernel(const G* __restrict__ d_o, const float* __restrict__ out,
                                          float denominator_eps, float* __restrict__ d_out, LinearAttentionShape s) {
  const Row r = warp_row(s);
  if (r.index < 0) return;
  const float* row = out + r.index * (s.dim + 1);
  const G* g = d_o + r.index * s.dim;
  float* d = d_out + r.index * (s.dim + 1);
  const float denominator = row[s.dim] + denominator_eps;
  float dot = 0.0f;
  for (int64_t c = r.lane; c < s.dim; c += 32) {
    const float gc = to_float(g[c]);
    dot += gc * row[c];
    d[c] = gc / denominator;
  }
  dot = warp_sum(dot);
  if (r.lane == 0) d[s.dim] = -dot / (denominator * denominator);
}

template <typename T>
__global__ void features_backward_kernel(const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v,
                                         const float* __restrict__ key_gate, const float* __restrict__ value_gate,
                                         float feature_eps, const float* __restrict__ d_phi_q,
                                         const float* __restrict__ d_phi_k, const float* __restrict__ d_v_ones,
                                         T* __restrict__ dq, T* __restrict__ dk, T* __restrict__ dv,
                                         float* __restrict__ key_gate_rows, float* __restrict__ value_gate_rows,
                                         LinearAttentionShape s) {
  const Row r = warp_row(s);
  if (r.index < 0) return;
  const auto in = row_inputs(q, k, v, key_gate, value_gate, s, r);
  const float* gq = d_phi_q + r.index * s.dim;
  const float* gkr = d_phi_k + r.index * s.dim;
  const float* gvr = d_v_ones + r.index * (s.dim + 1);
  float key_sum = 0.0f, value_sum = 0.0f;
  for (int64_t c = r.lane; c < s.dim; c += 32) {
    const float qc = to_float(in.q[c]), kc = to_float(in.k[c]), vc = to_float(in.v[c]);
    dq[r.index * s.dim + c] = from_float<T>(qc > 0.0f ? gq[c] : 0.0f);  // ReLU passes where its input is > 0
    dk[r.index * s.dim + c] = from_float<T>(kc > 0.0f ? gkr[c] * in.key_gate : 0.0f);
    dv[r.index * s.dim + c] = from_float<T>(gvr[c] * in.value_gate);
    key_sum += gkr[c] * (relu(kc) + feature_eps);
    value_sum += gvr[c] * vc;
  }
  key_sum = warp_sum(key_sum);
  value_sum = warp_sum(value_sum);
  if (r.lane == 0) {
    if (key_gate_rows) key_gate_rows[r.index] = key_sum;
    if (value_gate_rows) value_gate_rows[r.index] = value_sum;
  }
}

unsigned blocks_for(const LinearAttentionShape& s) {
  const int64_t rows = s.batch * s.heads * s.tokens;
  return static_cast<unsigned>((rows + kWarpsPerBlock - 1) / kWarpsPerBlock);
}

bool empty(const LinearAttentionShape& s) { return s.batch * s.heads * s.tokens == 0; }
}  // namespace

void linear_attention_features(const void* q, const void* k, const void* v, Dtype type, const float* key_gate,
                               const float* value_gate, float feature_eps, float* phi_q, float* phi_k, float* v_ones,
                               const LinearAttentionShape& shape, cudaStream_t stream) {
  if (empty(shape)) return;
  FLUXION_DISPATCH_DTYPE(type, T, [&] {
    FLUXION_LAUNCH(blocks_for(shape), kThreads, stream, features_kernel<T>)
    (static_cast<const T*>(q), static_cast<const T*>(k), static_cast<const T*>(v), key_gate, value_gate, feature_eps,
     phi_q, phi_k, v_ones, shape);
  });
  check_launch("linear attention features");
}

void linear_attention_normalize(const float* out, float denominator_eps, float* o, const LinearAttentionShape& shape,
                                cudaStream_t stream) {
  if (empty(shape)) return;
  FLUXION_LAUNCH(blocks_for(shape), kThreads, stream, normalize_kernel)(out, denominator_eps, o, shape);
  check_launch("linear attention normalize");
}

void linear_attention_normalize_backward(const void* d_o, Dtype d_o_type, const float* out, float denominator_eps,
                                         float* d_out, const LinearAttentionShape& shape, cudaStream_t stream) {
  if (empty(shape)) return;
  FLUXION_DISPATCH_DTYPE(d_o_type, G, [&] {
    FLUXION_LAUNCH(blocks_for(shape), kThreads, stream, normalize_backward_kernel<G>)
    (static_cast<const G*>(d_o), out, denominator_eps, d_out, shape);
  });
  check_launch("linear attention normalize backward");
}

void linear_attention_features_backward(const void* q, const void* k, const void* v, Dtype type, const float* key_gate,
                                        const float* value_gate, float feature_eps, const float* d_phi_q,
                                        const float* d_phi_k, const float* d_v_ones, void* dq, void* dk, void* dv,
                                        float* key_gate_rows, float* value_gate_rows, const LinearAttentionShape& shape,
                                        cudaStream_t stream) {
  if (empty(shape)) return;
  FLUXION_DISPATCH_DTYPE(type, T, [&] {
    FLUXION_LAUNCH(blocks_for(shape), kThreads, stream, features_backward_kernel<T>)
    (static_cast<const T*>(q), static_cast<const T*>(k), static_cast<const T*>(v), key_gate, value_gate, feature_eps,
     d_phi_q, d_phi_k, d_v_ones, static_cast<T*>(dq), static_cast<T*>(dk), static_cast<T*>(dv), key_gate_rows,
     value_gate_rows, shape);
  });
  check_launch("linear attention features backward");
}

}  // namespace fluxion::models::cuda
