// SwiGLU forward and backward (models/cuda/swiglu_kernels.h): one thread per output channel.
#include "models/cuda/swiglu_kernels.h"

#include "models/cuda/device_math.cuh"
#include "models/cuda/launch.h"

namespace fluxion::models::cuda {

namespace {
constexpr int kThreads = 256;

__device__ __forceinline__ float sigmoid(float a) { return 1.0f / (1.0f + expf(-a)); }

template <typename T>
__global__ void forward_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t rows, int64_t hidden) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= rows * hidden) return;
  const int64_t row = i / hidden, c = i % hidden;
  const float a = to_float(x[row * 2 * hidden + c]), b = to_float(x[row * 2 * hidden + hidden + c]);
  y[i] = from_float<T>(a * sigmoid(a) * b);
}

// d/da silu(a) b = b s (1 + a (1 - s)) with s = sigmoid(a); d/db = silu(a)
template <typename T>
__global__ void backward_kernel(const T* __restrict__ dy, const T* __restrict__ x, T* __restrict__ dx, int64_t rows,
                                int64_t hidden) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= rows * hidden) return;
  const int64_t row = i / hidden, c = i % hidden;
  const int64_t at_a = row * 2 * hidden + c, at_b = at_a + hidden;
  const float g = to_float(dy[i]), a = to_float(x[at_a]), b = to_float(x[at_b]);
  const float s = sigmoid(a);
  dx[at_a] = from_float<T>(g * b * s * (1.0f + a * (1.0f - s)));
  dx[at_b] = from_float<T>(g * a * s);
}

unsigned blocks_for(int64_t elements) { return static_cast<unsigned>((elements + kThreads - 1) / kThreads); }
}  // namespace

void swiglu_forward(const void* x, void* y, Dtype type, int64_t rows, int64_t hidden, cudaStream_t stream) {
  if (rows * hidden == 0) return;
  FLUXION_DISPATCH_DTYPE(type, T, [&] {
    FLUXION_LAUNCH(blocks_for(rows * hidden), kThreads, stream, forward_kernel<T>)
    (static_cast<const T*>(x), static_cast<T*>(y), rows, hidden);
  });
  check_launch("swiglu forward");
}

void swiglu_backward(const void* dy, const void* x, void* dx, Dtype type, int64_t rows, int64_t hidden,
                     cudaStream_t stream) {
  if (rows * hidden == 0) return;
  FLUXION_DISPATCH_DTYPE(type, T, [&] {
    FLUXION_LAUNCH(blocks_for(rows * hidden), kThreads, stream, backward_kernel<T>)
    (static_cast<const T*>(dy), static_cast<const T*>(x), static_cast<T*>(dx), rows, hidden);
  });
  check_launch("swiglu backward");
}

}  // namespace fluxion::models::cuda
