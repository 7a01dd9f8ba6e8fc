#pragma once
// Throughput measurements behind `fluxion bench --what train|sample|decode`: a zoo model or the
// SD-VAE (random
// initialisation), synthetic inputs, warmup iterations excluded, device synchronised around the
// timed region. Results are rates, for ratios against a stated baseline in docs/benchmarks.md.
// Part of the CLI, not of the shipped libraries.
#include <cstdint>
#include <string>

namespace fluxion::cli {

struct ThroughputOptions {
  std::string model = "SiT-XL/2";
  std::string attention = "softmax";
  int64_t image_size = 0;  // 0: the zoo's
  int64_t channels = 0;
  int64_t batch = 64;
  std::string device = "auto";
  std::string precision = "auto";
  int64_t warmup = 2;
  int64_t iterations = 5;
  // A Chrome trace of `profile_iterations` more iterations after the timed ones, so that the
  // profiler's overhead stays out of the throughput figure ("": none).
  std::string profile;
  int64_t profile_iterations = 3;
  // sample only
  std::string sampler = "euler";
  int64_t steps = 50;
  double cfg = 1.0;
  bool cuda_graphs = true;  // on CUDA, the network (sample) or the step (train) replayed from CUDA graphs
  // train/sample: the peak that model FLOP utilisation (MFU) is relative to, in TFLOP/s; 0: the
  // dense bf16 peak of a known GPU (H100/H200, A100, B200) when running bf16, else no MFU
  double peak_tflops = 0.0;
  // decode only: latents of this size through the SD-VAE decoder (32: 256-px images)
  int64_t latent_size = 32;
};

struct ThroughputResult {
  double images_per_second = 0.0;
  double seconds_per_iteration = 0.0;
  int64_t nfe = 0;  // sample: per batch
  int64_t parameters = 0;
  std::string description;
  double flops_per_image = 0.0;  // train/sample: model FLOPs (models/flops.h) per image, 0 if not counted
  double peak_flops = 0.0;       // the MFU denominator in FLOP/s, 0 when unknown
};

// The dense peak (FLOP/s) of the GPU that `device_summary` names, for bf16 tensor-core math;
// 0 for other precisions and unknown devices.
double known_peak_flops(const std::string& device_summary, bool bf16);

// Optimizer steps (flow matching, velocity, AdamW, EMA) per second x batch.
ThroughputResult bench_train(const ThroughputOptions& options);
// Images per second of `sampler` with `steps` (and CFG when cfg != 1).
ThroughputResult bench_sample(const ThroughputOptions& options);
// Images per second of the SD-VAE decoder (sd-vae-ft-ema architecture, random weights) on
// latents (batch, 4, latent_size, latent_size): what `fluxion sample --vae` adds per image.
ThroughputResult bench_decode(const ThroughputOptions& options);

}  // namespace fluxion::cli
