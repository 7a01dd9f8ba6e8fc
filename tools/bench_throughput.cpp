#include "tools/bench_throughput.h"

#include <chrono>
#include <memory>
#include <string>

#include "core/compat.h"
#include "core/device.h"
#include "core/error.h"
#include "core/profile_trace.h"
#include "core/rng.h"
#include "models/flops.h"
#include "models/fused_kernels.h"
#include "models/vae.h"
#include "models/zoo.h"
#include "objectives/backbone_model_fn.h"
#include "objectives/flow_objective.h"
#include "samplers/graphed_model.h"
#include "samplers/sampler.h"
#include "train/graphed_step.h"
#include "train/train_step.h"

namespace fluxion::cli {

namespace {
// How the timed iterations used CUDA graphs, for the result line: `captured` when they replayed
// one, why they ran eagerly when the capture failed, nothing otherwise.
std::string graphs_note(int64_t captures, bool capture_failed, const std::string& captured) {
  if (captures > 0) return ", " + captured;
  return capture_failed ? ", eager (CUDA graph capture failed)" : "";
}

// Names fluxion's own kernels in the result line where they could run, so figures say which.
std::string kernels_note(const torch::Device& device) {
  if (!device.is_cuda() || !models::fused_kernels_built()) return "";
  return ", fused kernels " + models::fused_kernels_status();
}

// What both benchmarks start from: the zoo model on the device, a batch of Gaussian inputs and
// labels from a seeded generator, and the precision autocast runs in.
struct BenchSetup {
  torch::Device device{torch::kCPU};
  torch::ScalarType precision = torch::kFloat;
  models::BackbonePtr model;
  at::Generator gen;
  torch::Tensor x;  // (B, C, S, S)
  torch::Tensor y;  // (B) int64
};

BenchSetup bench_setup(const ThroughputOptions& o, ThroughputResult& result) {
  FLUXION_CHECK(o.peak_tflops >= 0, "bench: --peak-tflops ", o.peak_tflops, " must not be negative");
  BenchSetup b;
  b.device = core::resolve_device(o.device);
  b.precision = core::resolve_precision(o.precision, b.device);
  models::ModelOverrides overrides;
  overrides.attention = o.attention;
  if (o.image_size > 0) overrides.image_size = o.image_size;
  if (o.channels > 0) overrides.channels = o.channels;
  b.model = models::build_model(models::zoo_config(o.model, overrides));
  b.model->to(b.device);
  result.parameters = b.model->parameter_count();
  b.gen = core::make_generator(0, b.device);
  const int64_t C = b.model->in_channels(), S = b.model->image_size();
  b.x = at::randn({o.batch, C, S, S}, b.gen, torch::TensorOptions().device(b.device));
  b.y = at::randint(0, std::max<int64_t>(b.model->num_classes(), 1), {o.batch}, b.gen,
                    torch::TensorOptions().device(b.device).dtype(torch::kLong));
  return b;
}

// "SiT-S/2, batch 256, <what>, bf16, cuda:0 (...)", the per-iteration figures and the FLOPs
// behind them (forward passes per image: 3 for a training step, forward and backward).
void finish_result(const ThroughputOptions& o, const BenchSetup& b, const std::string& what, double seconds,
                   double forward_passes, ThroughputResult& result) {
  result.seconds_per_iteration = seconds;
  result.images_per_second = static_cast<double>(o.batch) / seconds;
  const auto device = core::device_summary(b.device);
  result.description = o.model + ", batch " + std::to_string(o.batch) + ", " + what + ", " +
                       (b.precision == torch::kBFloat16 ? "bf16" : "fp32") + ", " + device;
  result.flops_per_image = forward_passes * models::forward_flops_per_image(*b.model);
  result.peak_flops =
      o.peak_tflops > 0 ? o.peak_tflops * 1e12 : known_peak_flops(device, b.precision == torch::kBFloat16);
}

void synchronize(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.index() < 0 ? 0 : device.index());
}

template <typename Step>
double time_iterations(const ThroughputOptions& o, const torch::Device& device, Step step) {
  for (int64_t i = 0; i < o.warmup; ++i) step();
  synchronize(device);
  const auto start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < o.iterations; ++i) step();
  synchronize(device);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() /
                         static_cast<double>(o.iterations);
  if (!o.profile.empty()) {
    core::ProfileTrace trace(o.profile, device);
    for (int64_t i = 0; i < o.profile_iterations; ++i) step();
    synchronize(device);
    trace.finish();
  }
  return seconds;
}
}  // namespace

ThroughputResult bench_train(const ThroughputOptions& o) {
  ThroughputResult result;
  auto b = bench_setup(o, result);
  auto& model = b.model;
  model->train();
  // SiT's recipe (train/configs/sit.toml): AdamW 1e-4, no clipping, one EMA of 0.9999; the step
  // itself is the trainer's (TrainStep), so bench measures what `fluxion train` runs.
  train::TrainConfig recipe;
  recipe.lr = 1e-4;
  recipe.grad_clip = 0.0;
  recipe.ema_decays = {0.9999};
  train::TrainStep train_step(*model, recipe);
  objectives::FlowObjective objective(objectives::FlowConfig{}, model->num_classes());
  // as the trainer runs it (train_loop.cpp): draws, then the step, replayed from a CUDA graph
  // after the warm-up iterations when --cuda-graphs is on
  const auto network = objectives::backbone_model_fn(model);
  train::GraphedStep graphed(
      train_step,
      [&](const torch::Tensor& x, const objectives::LossDraws& draws) {
        compat::AutocastGuard autocast(b.device.type(), b.precision);
        return objective.loss_on_draws(network, x, draws);
      },
      o.cuda_graphs);
  const auto step = [&] { graphed.run(b.x, objective.draws(b.x, b.y, b.gen, b.x.size(0), 0), recipe.lr); };
  if (o.cuda_graphs && b.device.is_cuda())
    for (int i = 0; i < 3; ++i) step();  // GraphedStep's eager warm-up steps and the capture, untimed
  const double seconds = time_iterations(o, b.device, step);
  const auto& graphs = graphed.stats();
  finish_result(
      o, b,
      "AdamW + EMA step" + graphs_note(graphs.captures, graphs.capture_failed, "CUDA graph") + kernels_note(b.device),
      seconds, /*forward_passes=*/3.0, result);
  return result;
}

ThroughputResult bench_sample(const ThroughputOptions& o) {
  ThroughputResult result;
  auto b = bench_setup(o, result);
  auto& model = b.model;
  model->eval();
  samplers::SamplerConfig config;
  config.name = o.sampler;
  config.steps = o.steps;
  config.cfg_scale = o.cfg;
  config.null_label = model->num_classes();
  const auto spec = samplers::parse_sampler(config);
  torch::NoGradGuard no_grad;
  auto graphs = std::make_shared<samplers::GraphStats>();
  // as fluxion sample runs it; the warm-up iterations capture the graphs
  const auto forward = samplers::graphed(objectives::backbone_model_fn(model), o.cuda_graphs, graphs);
  const double seconds = time_iterations(o, b.device, [&] {
    compat::AutocastGuard autocast(b.device.type(), b.precision);
    auto r = samplers::sample(spec, forward, b.y, b.x, b.gen);
    result.nfe = r.nfe;
  });
  const auto graph_note = graphs_note(graphs->captures, graphs->capture_failed,
                                      "CUDA graphs (" + std::to_string(graphs->captures) + " captured)");
  // every NFE evaluates the network once per image, twice with guidance (the doubled batch)
  const double passes = static_cast<double>(result.nfe) * (o.cfg != 1.0 ? 2.0 : 1.0);
  finish_result(o, b, spec.description + graph_note + kernels_note(b.device), seconds, passes, result);
  return result;
}

double known_peak_flops(const std::string& device_summary, bool bf16) {
  if (!bf16) return 0.0;
  // dense bf16 tensor-core peaks from NVIDIA's data sheets; the first name found wins, so the
  // PCIe and NVL parts of the H100 come before the SXM one
  for (const auto& [name, tflops] : std::vector<std::pair<std::string, double>>{{"H100 PCIe", 756.0},
                                                                                {"H100 NVL", 835.0},
                                                                                {"H100", 989.4},
                                                                                {"H200", 989.4},
                                                                                {"B200", 2250.0},
                                                                                {"A100", 312.0}}) {
    if (device_summary.find(name) != std::string::npos) return tflops * 1e12;
  }
  return 0.0;
}

ThroughputResult bench_decode(const ThroughputOptions& o) {
  ThroughputResult result;
  const auto device = core::resolve_device(o.device);
  const auto precision = core::resolve_precision(o.precision, device);
  models::AutoencoderKL vae(models::vae_preset("sd-vae-ft-ema"));
  vae->to(device);
  vae->eval();
  // as fluxion sample --vae decodes: bf16 weights without autocast, or float32
  if (precision == torch::kBFloat16) vae->to(torch::kBFloat16);
  for (const auto& p : vae->parameters()) result.parameters += p.numel();
  auto gen = core::make_generator(0, device);
  const auto latents = at::randn({o.batch, vae->config().latent_channels, o.latent_size, o.latent_size}, gen,
                                 torch::TensorOptions().device(device));
  torch::NoGradGuard no_grad;
  const double seconds = time_iterations(o, device, [&] { vae->decode(latents); });
  result.seconds_per_iteration = seconds;
  result.images_per_second = static_cast<double>(o.batch) / seconds;
  const int64_t pixels = o.latent_size * vae->config().downsampling_factor();
  result.description = "SD-VAE decoder, batch " + std::to_string(o.batch) + ", " + std::to_string(o.latent_size) + "x" +
                       std::to_string(o.latent_size) + " latents -> " + std::to_string(pixels) + " px, " +
                       (precision == torch::kBFloat16 ? "bf16 weights" : "fp32") + ", " + core::device_summary(device);
  return result;
}

}  // namespace fluxion::cli
