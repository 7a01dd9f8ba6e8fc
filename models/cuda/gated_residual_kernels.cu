// The gated residual's backward in one pass (models/cuda/gated_residual_kernels.h): grad and y are
// read once, dy written once; the token sums stay in registers and shared memory.
#include "models/cuda/gated_residual_kernels.h"

#include "models/cuda/device_math.cuh"
#include "models/cuda/launch.h"

namespace fluxion::models::cuda {

namespace {
constexpr int kColumnTile = 32;  // 32 channels x 8 token lanes per block, coalesced along channels
constexpr int kTokenLanes = 8;

// Grid (B, ceil(D / 32)); each thread walks one channel over every 8th token of one sample.
template <typename G, typename M, typename Y>
__global__ void backward_kernel(const G* __restrict__ grad, const M* __restrict__ gate, const Y* __restrict__ y,
                                Y* __restrict__ dy, float* __restrict__ dgate, GatedResidualShape shape) {
  __shared__ float partial[kTokenLanes][kColumnTile + 1];
  const int64_t sample = blockIdx.x;
  const int64_t d = static_cast<int64_t>(blockIdx.y) * kColumnTile + threadIdx.x;
  float gate_grad = 0.0f;
  if (d < shape.dim) {
    const float g_scale = to_float(gate[sample * shape.gate_stride + d]);
    for (int64_t n = threadIdx.y; n < shape.tokens; n += kTokenLanes) {
      const int64_t at = (sample * shape.tokens + n) * shape.dim + d;
      const float g = to_float(grad[at]);
      dy[at] = from_float<Y>(g * g_scale);
      gate_grad += g * to_float(y[at]);
    }
  }
  partial[threadIdx.y][threadIdx.x] = gate_grad;
  __syncthreads();
  if (threadIdx.y == 0 && d < shape.dim) {
    for (int lane = 1; lane < kTokenLanes; ++lane) gate_grad += partial[lane][threadIdx.x];
    dgate[sample * shape.dim + d] = gate_grad;
  }
}
}  // namespace

void gated_residual_backward(const void* grad, Dtype grad_type, const void* gate, Dtype gate_type, const void* y,
                             Dtype y_type, void* dy, float* dgate, const GatedResidualShape& shape,
                             cudaStream_t stream) {
  if (shape.samples == 0 || shape.dim == 0) return;
  const dim3 grid(static_cast<unsigned>(shape.samples),
                  static_cast<unsigned>((shape.dim + kColumnTile - 1) / kColumnTile));
  const dim3 block(kColumnTile, kTokenLanes);
  FLUXION_DISPATCH_DTYPE(grad_type, G, [&] {
    FLUXION_DISPATCH_DTYPE(gate_type, M, [&] {
      FLUXION_DISPATCH_DTYPE(y_type, Y, [&] {
        FLUXION_LAUNCH(grid, block, stream, backward_kernel<G, M, Y>)
        (static_cast<const G*>(grad), static_cast<const M*>(gate), static_cast<const Y*>(y), static_cast<Y*>(dy), dgate,
         shape);
      });
    });
  });
  check_launch("gated residual backward");
}

}  // namespace fluxion::models::cuda
