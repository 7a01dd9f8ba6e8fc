// LINA's depthwise convolution on the (B, N, C) token layout (models/cuda/depthwise_conv_kernels.h).
// Threads run along channels, so every read and write is coalesced; a token's K x K neighbours
// are read from cache, not re-laid out.
#include "models/cuda/depthwise_conv_kernels.h"

#include <type_traits>

#include "models/cuda/device_math.cuh"
#include "models/cuda/launch.h"

namespace fluxion::models::cuda {

namespace {
constexpr int kChannelTile = 32;  // channels per block, one per thread of a row
constexpr int kTokenLanes = 8;    // block rows
constexpr int kTokensPerBlock = 64;

// Grid (ceil(N / 64), ceil(C / 32), B). Output token n: base on the prefix, base + bias + the
// K x K neighbourhood on the grid (zero padding). kTransposed makes it the transposed convolution
// (the gradient of x): tap (i, j) reads the neighbour at (-i, -j) instead of (i, j), with no base
// or bias, and zero on the prefix.
template <int K, bool kTransposed, typename B, typename X, typename O>
__global__ void conv_kernel(const B* __restrict__ base, const X* __restrict__ x, const float* __restrict__ weight,
                            const float* __restrict__ bias, O* __restrict__ out, DepthwiseConvShape shape) {
  constexpr int kRadius = K / 2;
  const int64_t c = static_cast<int64_t>(blockIdx.y) * kChannelTile + threadIdx.x;
  if (c >= shape.channels) return;
  const int64_t sample = blockIdx.z;
  float w[K * K];
  for (int t = 0; t < K * K; ++t) w[t] = weight[c * K * K + t];
  const float b = (!kTransposed && bias != nullptr) ? bias[c] : 0.0f;
  const int64_t rows = sample * shape.tokens;  // first token of this sample
  const int64_t first = static_cast<int64_t>(blockIdx.x) * kTokensPerBlock;
  for (int64_t n = first + threadIdx.y; n < first + kTokensPerBlock && n < shape.tokens; n += kTokenLanes) {
    const int64_t at = (rows + n) * shape.channels + c;
    if (n < shape.prefix) {
      out[at] = kTransposed ? from_float<O>(0.0f) : from_float<O>(to_float(base[at]));
      continue;
    }
    const int64_t p = n - shape.prefix, py = p / shape.grid_w, px = p % shape.grid_w;
    float sum = b;
    for (int i = 0; i < K; ++i) {
      const int64_t yy = kTransposed ? py - (i - kRadius) : py + (i - kRadius);
      if (yy < 0 || yy >= shape.grid_h) continue;
      for (int j = 0; j < K; ++j) {
        const int64_t xx = kTransposed ? px - (j - kRadius) : px + (j - kRadius);
        if (xx < 0 || xx >= shape.grid_w) continue;
        sum += w[i * K + j] * to_float(x[(rows + shape.prefix + yy * shape.grid_w + xx) * shape.channels + c]);
      }
    }
    out[at] = kTransposed ? from_float<O>(sum) : from_float<O>(to_float(base[at]) + sum);
  }
}

// Grid (ceil(C / 32), splits). Thread (channel, lane) of split s sums grad * shifted x for each tap
// (and grad for the bias) over the grid positions m = s * 8 + lane + k * splits * 8 of all samples;
// the 8 lanes are then summed through shared memory, one tap at a time.
template <int K, typename G, typename X>
__global__ void weight_kernel(const G* __restrict__ grad, const X* __restrict__ x, float* __restrict__ partial,
                              DepthwiseConvShape shape) {
  constexpr int kRadius = K / 2, kSums = K * K + 1;
  __shared__ float lanes[kTokenLanes][kChannelTile + 1];
  const int64_t c = static_cast<int64_t>(blockIdx.x) * kChannelTile + threadIdx.x;
  const int64_t grid_tokens = shape.grid_h * shape.grid_w, positions = shape.samples * grid_tokens;
  const int64_t stride = static_cast<int64_t>(gridDim.y) * kTokenLanes;
  float sums[kSums];
  for (int t = 0; t < kSums; ++t) sums[t] = 0.0f;
  if (c < shape.channels) {
    for (int64_t m = static_cast<int64_t>(blockIdx.y) * kTokenLanes + threadIdx.y; m < positions; m += stride) {
      const int64_t sample = m / grid_tokens, p = m % grid_tokens;
      const int64_t py = p / shape.grid_w, px = p % shape.grid_w;
      const int64_t grid_start = sample * shape.tokens + shape.prefix;  // this sample's first grid token
      const float g = to_float(grad[(grid_start + p) * shape.channels + c]);
      for (int i = 0; i < K; ++i) {
        const int64_t yy = py + i - kRadius;
        if (yy < 0 || yy >= shape.grid_h) continue;
        for (int j = 0; j < K; ++j) {
          const int64_t xx = px + j - kRadius;
          if (xx < 0 || xx >= shape.grid_w) continue;
          sums[i * K + j] += g * to_float(x[(grid_start + yy * shape.grid_w + xx) * shape.channels + c]);
        }
      }
      sums[K * K] += g;
    }
  }
  for (int t = 0; t < kSums; ++t) {
    lanes[threadIdx.y][threadIdx.x] = sums[t];
    __syncthreads();
    if (threadIdx.y == 0 && c < shape.channels) {
      float total = 0.0f;
      for (int lane = 0; lane < kTokenLanes; ++lane) total += lanes[lane][threadIdx.x];
      partial[(static_cast<int64_t>(blockIdx.y) * kSums + t) * shape.channels + c] = total;
    }
    __syncthreads();
  }
}

template <typename Launch>
void with_kernel_size(int k, Launch launch) {
  if (k == 3)
    launch(std::integral_constant<int, 3>{});
  else if (k == 5)
    launch(std::integral_constant<int, 5>{});
  else
    launch(std::integral_constant<int, 7>{});
}

dim3 token_grid(const DepthwiseConvShape& shape) {
  return dim3(static_cast<unsigned>((shape.tokens + kTokensPerBlock - 1) / kTokensPerBlock),
              static_cast<unsigned>((shape.channels + kChannelTile - 1) / kChannelTile),
              static_cast<unsigned>(shape.samples));
}
}  // namespace

void depthwise_conv_add_forward(const void* base, Dtype base_type, const void* x, Dtype x_type, const float* weight,
                                const float* bias, void* out, Dtype out_type, const DepthwiseConvShape& shape,
                                cudaStream_t stream) {
  if (shape.samples == 0 || shape.tokens == 0 || shape.channels == 0) return;
  const dim3 block(kChannelTile, kTokenLanes);
  with_kernel_size(shape.kernel_size, [&](auto k) {
    FLUXION_DISPATCH_DTYPE(base_type, B, [&] {
      FLUXION_DISPATCH_DTYPE(x_type, X, [&] {
        FLUXION_DISPATCH_DTYPE(out_type, O, [&] {
          FLUXION_LAUNCH(token_grid(shape), block, stream, conv_kernel<decltype(k)::value, false, B, X, O>)
          (static_cast<const B*>(base), static_cast<const X*>(x), weight, bias, static_cast<O*>(out), shape);
        });
      });
    });
  });
  check_launch("depthwise convolution forward");
}

void depthwise_conv_backward_input(const void* grad, Dtype grad_type, const float* weight, void* dx, Dtype x_type,
                                   const DepthwiseConvShape& shape, cudaStream_t stream) {
  if (shape.samples == 0 || shape.tokens == 0 || shape.channels == 0) return;
  const dim3 block(kChannelTile, kTokenLanes);
  with_kernel_size(shape.kernel_size, [&](auto k) {
    FLUXION_DISPATCH_DTYPE(grad_type, G, [&] {
      FLUXION_DISPATCH_DTYPE(x_type, X, [&] {
        // no base in the transposed pass: grad stands in for its pointer and is not read
        FLUXION_LAUNCH(token_grid(shape), block, stream, conv_kernel<decltype(k)::value, true, G, G, X>)
        (static_cast<const G*>(grad), static_cast<const G*>(grad), weight, nullptr, static_cast<X*>(dx), shape);
      });
    });
  });
  check_launch("depthwise convolution backward (input)");
}

int64_t depthwise_conv_weight_splits(const DepthwiseConvShape& shape) {
  // about 1,024 blocks in all (several per SM), never more splits than 8-position groups
  const int64_t channel_tiles = (shape.channels + kChannelTile - 1) / kChannelTile;
  const int64_t groups = (shape.samples * shape.grid_h * shape.grid_w + kTokenLanes - 1) / kTokenLanes;
  const int64_t wanted = (1024 + channel_tiles - 1) / channel_tiles;
  const int64_t splits = wanted < groups ? wanted : groups;
  return splits < 1 ? 1 : (splits > 65535 ? 65535 : splits);
}

void depthwise_conv_backward_weight(const void* grad, Dtype grad_type, const void* x, Dtype x_type, float* partial,
                                    const DepthwiseConvShape& shape, cudaStream_t stream) {
  if (shape.channels == 0) return;
  const dim3 grid(static_cast<unsigned>((shape.channels + kChannelTile - 1) / kChannelTile),
                  static_cast<unsigned>(depthwise_conv_weight_splits(shape)));
  const dim3 block(kChannelTile, kTokenLanes);
  with_kernel_size(shape.kernel_size, [&](auto k) {
    FLUXION_DISPATCH_DTYPE(grad_type, G, [&] {
      FLUXION_DISPATCH_DTYPE(x_type, X, [&] {
        FLUXION_LAUNCH(grid, block, stream, weight_kernel<decltype(k)::value, G, X>)
        (static_cast<const G*>(grad), static_cast<const X*>(x), partial, shape);
      });
    });
  });
  check_launch("depthwise convolution backward (weight)");
}

}  // namespace fluxion::models::cuda
