// Fused LayerNorm + adaLN modulate (models/cuda/norm_modulate_kernels.h). All arithmetic in
// float32; each tensor is read and written once per kernel, where the unfused ops make a float32
// LayerNorm output, a modulated float32 copy and (under autocast) a bf16 cast of it.
#include "models/cuda/norm_modulate_kernels.h"

#include "models/cuda/device_math.cuh"
#include "models/cuda/launch.h"

namespace fluxion::models::cuda {

namespace {
constexpr int kRowThreads = 256;  // one block per row: D up to a few thousand in a few loads each
constexpr int kColumnTile = 32;   // backward over tokens: 32 channels x 8 token lanes per block
constexpr int kTokenLanes = 8;

// 1 + scale as eager PyTorch computes it: in the modulation's own dtype (bf16 under autocast).
template <typename M>
__device__ __forceinline__ float one_plus(M scale) {
  return to_float(from_float<M>(1.0f + to_float(scale)));
}

template <typename X, typename M, typename Y>
__global__ void forward_kernel(const X* __restrict__ x, const float* __restrict__ rms_weight,
                               const M* __restrict__ shift, const M* __restrict__ scale, Y* __restrict__ y,
                               float* __restrict__ mean_out, float* __restrict__ rstd_out, NormModulateShape shape,
                               float eps) {
  const int64_t row = blockIdx.x;
  const int64_t dim = shape.dim;
  const X* xr = x + row * dim;
  float mean = 0.0f;  // RMSNorm does not centre
  if (!rms_weight) {
    float sum = 0.0f;
    for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) sum += to_float(xr[i]);
    mean = block_sum(sum) / static_cast<float>(dim);
  }
  float squares = 0.0f;  // a second pass over the row (it stays in L1): no cancellation in the variance
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) {
    const float d = to_float(xr[i]) - mean;
    squares += d * d;
  }
  const float rstd = rsqrtf(block_sum(squares) / static_cast<float>(dim) + eps);
  if (threadIdx.x == 0) {
    mean_out[row] = mean;
    rstd_out[row] = rstd;
  }
  const int64_t sample = row / shape.tokens;
  const M* sh = shift + sample * shape.mod_stride;
  const M* sc = scale + sample * shape.mod_stride;
  Y* yr = y + row * dim;
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) {
    float normed = (to_float(xr[i]) - mean) * rstd;
    if (rms_weight) normed *= rms_weight[i];  // RMSNorm's (weight * h), as upstream orders it
    yr[i] = from_float<Y>(normed * one_plus(sc[i]) + to_float(sh[i]));
  }
}

// With u = dy (1 + scale) w (w = 1 for LayerNorm): LayerNorm's input gradient
// dx = rstd (u - mean(u) - xhat mean(u xhat)), RMSNorm's dx = rstd (u - xhat mean(u xhat)).
template <typename DY, typename X, typename M>
__global__ void backward_input_kernel(const DY* __restrict__ dy, const X* __restrict__ x,
                                      const float* __restrict__ rms_weight, const M* __restrict__ scale,
                                      const float* __restrict__ mean, const float* __restrict__ rstd,
                                      X* __restrict__ dx, NormModulateShape shape) {
  const int64_t row = blockIdx.x;
  const int64_t dim = shape.dim;
  const DY* dyr = dy + row * dim;
  const X* xr = x + row * dim;
  const M* sc = scale + (row / shape.tokens) * shape.mod_stride;
  const float mu = mean[row], r = rstd[row];
  float u_sum = 0.0f, ux_sum = 0.0f;
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) {
    const float u = to_float(dyr[i]) * one_plus(sc[i]) * (rms_weight ? rms_weight[i] : 1.0f);
    u_sum += u;
    ux_sum += u * (to_float(xr[i]) - mu) * r;
  }
  const float u_mean = rms_weight ? 0.0f : block_sum(u_sum) / static_cast<float>(dim);
  const float ux_mean = block_sum(ux_sum) / static_cast<float>(dim);
  X* dxr = dx + row * dim;
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) {
    const float u = to_float(dyr[i]) * one_plus(sc[i]) * (rms_weight ? rms_weight[i] : 1.0f);
    const float xhat = (to_float(xr[i]) - mu) * r;
    dxr[i] = from_float<X>(r * (u - u_mean - xhat * ux_mean));
  }
}

// dshift[b, d] = sum_n dy[b, n, d]; dscale[b, d] = sum_n dy[b, n, d] xhat[b, n, d] w[d]; for RMSNorm
// also dweight[b, d] = sum_n dy[b, n, d] (1 + scale[b, d]) xhat[b, n, d], each sample's share of the
// weight's gradient. Grid (B, ceil(D / 32)); block (32 channels, 8 token lanes), coalesced along the
// channels.
template <typename DY, typename X, typename M>
__global__ void backward_modulation_kernel(const DY* __restrict__ dy, const X* __restrict__ x,
                                           const float* __restrict__ rms_weight, const M* __restrict__ scale,
                                           const float* __restrict__ mean, const float* __restrict__ rstd,
                                           float* __restrict__ dshift, float* __restrict__ dscale,
                                           float* __restrict__ dweight, NormModulateShape shape) {
  __shared__ float shift_part[kTokenLanes][kColumnTile + 1];
  __shared__ float normed_part[kTokenLanes][kColumnTile + 1];  // sum_n dy xhat
  const int64_t sample = blockIdx.x;
  const int64_t d = static_cast<int64_t>(blockIdx.y) * kColumnTile + threadIdx.x;
  float shift_acc = 0.0f, normed_acc = 0.0f;
  if (d < shape.dim) {
    for (int64_t n = threadIdx.y; n < shape.tokens; n += kTokenLanes) {
      const int64_t row = sample * shape.tokens + n;
      const float g = to_float(dy[row * shape.dim + d]);
      shift_acc += g;
      normed_acc += g * (to_float(x[row * shape.dim + d]) - mean[row]) * rstd[row];
    }
  }
  shift_part[threadIdx.y][threadIdx.x] = shift_acc;
  normed_part[threadIdx.y][threadIdx.x] = normed_acc;
  __syncthreads();
  if (threadIdx.y == 0 && d < shape.dim) {
    for (int lane = 1; lane < kTokenLanes; ++lane) {
      shift_acc += shift_part[lane][threadIdx.x];
      normed_acc += normed_part[lane][threadIdx.x];
    }
    const int64_t at = sample * shape.dim + d;
    dshift[at] = shift_acc;
    if (rms_weight) {
      dscale[at] = normed_acc * rms_weight[d];
      dweight[at] = normed_acc * one_plus(scale[sample * shape.mod_stride + d]);
    } else {
      dscale[at] = normed_acc;
    }
  }
}

}  // namespace

void norm_modulate_forward(const void* x, Dtype x_type, const float* rms_weight, const void* shift, const void* scale,
                           Dtype mod_type, void* y, Dtype y_type, float* mean, float* rstd,
                           const NormModulateShape& shape, float eps, cudaStream_t stream) {
  if (shape.rows == 0) return;
  FLUXION_DISPATCH_DTYPE(x_type, X, [&] {
    FLUXION_DISPATCH_DTYPE(mod_type, M, [&] {
      FLUXION_DISPATCH_DTYPE(y_type, Y, [&] {
        FLUXION_LAUNCH(static_cast<unsigned>(shape.rows), kRowThreads, stream, forward_kernel<X, M, Y>)
        (static_cast<const X*>(x), rms_weight, static_cast<const M*>(shift), static_cast<const M*>(scale),
         static_cast<Y*>(y), mean, rstd, shape, eps);
      });
    });
  });
  check_launch("norm_modulate forward");
}

void norm_modulate_backward_input(const void* dy, Dtype dy_type, const void* x, Dtype x_type, const float* rms_weight,
                                  const void* scale, Dtype mod_type, const float* mean, const float* rstd, void* dx,
                                  const NormModulateShape& shape, cudaStream_t stream) {
  if (shape.rows == 0) return;
  FLUXION_DISPATCH_DTYPE(dy_type, DY, [&] {
    FLUXION_DISPATCH_DTYPE(x_type, X, [&] {
      FLUXION_DISPATCH_DTYPE(mod_type, M, [&] {
        FLUXION_LAUNCH(static_cast<unsigned>(shape.rows), kRowThreads, stream, backward_input_kernel<DY, X, M>)
        (static_cast<const DY*>(dy), static_cast<const X*>(x), rms_weight, static_cast<const M*>(scale), mean, rstd,
         static_cast<X*>(dx), shape);
      });
    });
  });
  check_launch("norm_modulate backward (input)");
}

void norm_modulate_backward_modulation(const void* dy, Dtype dy_type, const void* x, Dtype x_type,
                                       const float* rms_weight, const void* scale, Dtype mod_type, const float* mean,
                                       const float* rstd, float* dshift, float* dscale, float* dweight,
                                       const NormModulateShape& shape, cudaStream_t stream) {
  if (shape.rows == 0) return;
  const dim3 grid(static_cast<unsigned>(shape.rows / shape.tokens),
                  static_cast<unsigned>((shape.dim + kColumnTile - 1) / kColumnTile));
  const dim3 block(kColumnTile, kTokenLanes);
  FLUXION_DISPATCH_DTYPE(dy_type, DY, [&] {
    FLUXION_DISPATCH_DTYPE(x_type, X, [&] {
      FLUXION_DISPATCH_DTYPE(mod_type, M, [&] {
        FLUXION_LAUNCH(grid, block, stream, backward_modulation_kernel<DY, X, M>)
        (static_cast<const DY*>(dy), static_cast<const X*>(x), rms_weight, static_cast<const M*>(scale), mean, rstd,
         dshift, dscale, dweight, shape);
      });
    });
  });
  check_launch("norm_modulate backward (modulation)");
}

}  // namespace fluxion::models::cuda
