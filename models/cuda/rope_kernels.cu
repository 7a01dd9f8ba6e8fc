// Rotary position embedding forward and backward (models/cuda/rope_kernels.h): one thread per
// channel pair, the pair read and written together.
#include "models/cuda/rope_kernels.h"

#include "models/cuda/device_math.cuh"
#include "models/cuda/launch.h"

namespace fluxion::models::cuda {

namespace {
constexpr int kThreads = 256;

// kTranspose false: (a, b) -> (a cos_a - b sin_a, b cos_b + a sin_b), the forward rotation;
// true: (a, b) -> (a cos_a + b sin_b, b cos_b - a sin_a), its transpose (the backward pass).
template <typename T, bool kTranspose>
__global__ void rope_kernel(const T* __restrict__ in, const float* __restrict__ cos, const float* __restrict__ sin,
                            T* __restrict__ out, RopeShape shape, int64_t pairs) {
  const int64_t pair = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (pair >= pairs) return;
  const int64_t half = shape.dim / 2;
  const int64_t row = pair / half, channel = 2 * (pair % half);  // row over (B, H, N)
  const int64_t n = row % shape.tokens, h = (row / shape.tokens) % shape.heads, b = row / (shape.tokens * shape.heads);
  const T* source = in + b * shape.batch_stride + h * shape.head_stride + n * shape.token_stride + channel;
  const float a = to_float(source[0]), c = to_float(source[1]);
  const int64_t table = n * shape.dim + channel;
  const float cos_a = cos[table], cos_b = cos[table + 1], sin_a = sin[table], sin_b = sin[table + 1];
  T* target = out + row * shape.dim + channel;
  if (kTranspose) {
    target[0] = from_float<T>(a * cos_a + c * sin_b);
    target[1] = from_float<T>(c * cos_b - a * sin_a);
  } else {
    target[0] = from_float<T>(a * cos_a - c * sin_a);
    target[1] = from_float<T>(c * cos_b + a * sin_b);
  }
}

template <bool kTranspose>
void launch(const void* in, Dtype type, const float* cos, const float* sin, void* out, const RopeShape& shape,
            cudaStream_t stream, const char* what) {
  const int64_t pairs = shape.batch * shape.heads * shape.tokens * (shape.dim / 2);
  if (pairs == 0) return;
  const auto blocks = static_cast<unsigned>((pairs + kThreads - 1) / kThreads);
  FLUXION_DISPATCH_DTYPE(type, T, [&] {
    FLUXION_LAUNCH(blocks, kThreads, stream, rope_kernel<T, kTranspose>)
    (static_cast<const T*>(in), cos, sin, static_cast<T*>(out), shape, pairs);
  });
  check_launch(what);
}
}  // namespace

void rope_forward(const void* x, Dtype type, const float* cos, const float* sin, void* y, const RopeShape& shape,
                  cudaStream_t stream) {
  launch<false>(x, type, cos, sin, y, shape, stream, "rope forward");
}

void rope_backward(const void* dy, Dtype type, const float* cos, const float* sin, void* dx, const RopeShape& shape,
                   cudaStream_t stream) {
  launch<true>(dy, type, cos, sin, dx, shape, stream, "rope backward");
}

}  // namespace fluxion::models::cuda
