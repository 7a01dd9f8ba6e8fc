#include "tools/bench_throughput.h"

#include <chrono>

#include "core/compat.h"
#include "core/device.h"
#include "core/profile_trace.h"
#include "core/rng.h"
#include "models/zoo.h"
#include "objectives/flow_objective.h"
#include "samplers/sampler.h"
#include "train/train_step.h"

namespace fluxion::cli {

namespace {
models::BackbonePtr bench_model(const ThroughputOptions& o, const torch::Device& device, ThroughputResult& result) {
  models::ModelOverrides overrides;
  overrides.attention = o.attention;
  if (o.image_size > 0) overrides.image_size = o.image_size;
  if (o.channels > 0) overrides.channels = o.channels;
  auto model = models::build_model(models::zoo_config(o.model, overrides));
  model->to(device);
  result.parameters = model->parameter_count();
  return model;
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
  const auto device = core::resolve_device(o.device);
  const auto precision = core::resolve_precision(o.precision, device);
  auto model = bench_model(o, device, result);
  model->train();
  // SiT's recipe (train/configs/sit.toml): AdamW 1e-4, no clipping, one EMA of 0.9999; the step
  // itself is the trainer's (TrainStep), so bench measures what `fluxion train` runs.
  train::TrainConfig recipe;
  recipe.lr = 1e-4;
  recipe.grad_clip = 0.0;
  recipe.ema_decays = {0.9999};
  train::TrainStep train_step(*model, recipe);
  objectives::FlowObjective objective(objectives::FlowConfig{}, model->num_classes());
  auto gen = core::make_generator(0, device);
  const int64_t C = model->in_channels(), S = model->image_size();
  auto x = at::randn({o.batch, C, S, S}, gen, torch::TensorOptions().device(device));
  auto y = at::randint(0, std::max<int64_t>(model->num_classes(), 1), {o.batch}, gen,
                       torch::TensorOptions().device(device).dtype(torch::kLong));
  const double seconds = time_iterations(o, device, [&] {
    const auto loss = train_step.backward(
        [&](int64_t) {
          compat::AutocastGuard autocast(device.type(), precision);
          return objective.loss([&](const torch::Tensor& xt, const torch::Tensor& t,
                                    const torch::Tensor& labels) { return model->forward(xt, t, labels); },
                                x, y, gen);
        },
        1);
    train_step.apply(loss, recipe.lr);
  });
  result.seconds_per_iteration = seconds;
  result.images_per_second = static_cast<double>(o.batch) / seconds;
  result.description = o.model + ", batch " + std::to_string(o.batch) + ", " +
                       (precision == torch::kBFloat16 ? "bf16" : "fp32") + ", " + core::device_summary(device) +
                       ", AdamW + EMA step";
  return result;
}

ThroughputResult bench_sample(const ThroughputOptions& o) {
  ThroughputResult result;
  const auto device = core::resolve_device(o.device);
  const auto precision = core::resolve_precision(o.precision, device);
  auto model = bench_model(o, device, result);
  model->eval();
  samplers::SamplerConfig config;
  config.name = o.sampler;
  config.steps = o.steps;
  config.cfg_scale = o.cfg;
  config.null_label = model->num_classes();
  const auto spec = samplers::parse_sampler(config);
  auto gen = core::make_generator(0, device);
  const int64_t C = model->in_channels(), S = model->image_size();
  auto noise = at::randn({o.batch, C, S, S}, gen, torch::TensorOptions().device(device));
  auto y = at::randint(0, std::max<int64_t>(model->num_classes(), 1), {o.batch}, gen,
                       torch::TensorOptions().device(device).dtype(torch::kLong));
  torch::NoGradGuard no_grad;
  const double seconds = time_iterations(o, device, [&] {
    compat::AutocastGuard autocast(device.type(), precision);
    auto r = samplers::sample(
        spec,
        [&](const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& labels) {
          return model->forward(x, t, labels).to(torch::kFloat);
        },
        y, noise, gen);
    result.nfe = r.nfe;
  });
  result.seconds_per_iteration = seconds;
  result.images_per_second = static_cast<double>(o.batch) / seconds;
  result.description = o.model + ", batch " + std::to_string(o.batch) + ", " + spec.description + ", " +
                       (precision == torch::kBFloat16 ? "bf16" : "fp32") + ", " + core::device_summary(device);
  return result;
}

}  // namespace fluxion::cli
