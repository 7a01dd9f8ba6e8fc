#include "objectives/generate.h"

#include <chrono>
#include <cstdio>
#include <filesystem>

#include "core/atomic_file.h"
#include "core/compat.h"
#include "core/device.h"
#include "core/error.h"
#include "core/image_io.h"
#include "core/log.h"
#include "core/npy.h"
#include "core/npz.h"
#include "core/progress.h"
#include "core/rng.h"
#include "models/vae.h"
#include "models/zoo.h"
#include "objectives/checkpoint.h"
#include "objectives/flow_sampling.h"
#include "objectives/objective_config.h"

namespace fluxion::objectives {

namespace fs = std::filesystem;

namespace {

constexpr uint64_t kNoiseStream = 1ull << 32;  // + image index
constexpr uint64_t kSdeStream = 1ull << 33;    // + first index of the batch

models::ModelConfig resolve_model(const GenerateConfig& config, const ModelWeights& weights) {
  models::ModelOverrides overrides;
  if (config.image_size > 0) overrides.image_size = config.image_size;
  if (config.channels > 0) overrides.channels = config.channels;
  if (config.num_classes > 0) overrides.num_classes = config.num_classes;
  if (!config.model.empty()) return models::zoo_config(config.model, overrides);
  FLUXION_CHECK(!weights.model_config.empty(), config.checkpoint,
                ": the file does not say which model it holds; pass --model NAME (e.g. SiT-XL/2)");
  return models::config_from_json(weights.model_config);
}

std::string image_name(const std::string& dir, int64_t index, int64_t label) {
  char name[64];
  std::snprintf(name, sizeof(name), "/%06lld_%lld.png", static_cast<long long>(index),
                static_cast<long long>(label));
  return dir + name;
}

torch::Tensor labels_for(const GenerateConfig& config, int64_t num_classes) {
  if (config.classes == "balanced") {
    // Equal counts per class (the first n mod K classes get one more), in class-cycling order.
    return num_classes > 0 ? torch::arange(config.n, torch::kLong).remainder(num_classes)
                           : torch::zeros({config.n}, torch::kLong);
  }
  int64_t k = -1;
  try {
    size_t used = 0;
    k = std::stoll(config.classes, &used);
    FLUXION_CHECK(used == config.classes.size(), "");
  } catch (const std::exception&) {
    fail("--classes must be 'balanced' or a class index, got '", config.classes, "'");
  }
  FLUXION_CHECK(k >= 0 && k <= num_classes, "--classes ", k, " is outside 0..", num_classes,
                " (", num_classes, " is the null class)");
  return torch::full({config.n}, k, torch::kLong);
}

}  // namespace

GenerateResult generate(const GenerateConfig& config) {
  FLUXION_CHECK(config.n > 0, "--n must be positive, got ", config.n);
  FLUXION_CHECK(config.batch > 0, "--batch must be positive, got ", config.batch);
  FLUXION_CHECK(config.quantization == "sit" || config.quantization == "adm",
                "--quantization must be sit or adm, got '", config.quantization, "'");
  const auto weights = load_model_weights(config.checkpoint, config.weights);
  const auto model_config = resolve_model(config, weights);
  auto model = models::build_model(model_config);
  model->load_state(weights.weights, config.checkpoint);
  const auto device = core::resolve_device(config.device);
  const auto precision = core::resolve_precision(config.precision, device);
  model->to(device);
  model->eval();

  // The objective the weights were trained with decides the sampler family, and for flows the
  // path, prediction and end epsilons. Converted official weights record none: a flow sampler
  // samples them exactly as configured.
  SamplingRequest request;
  request.sampler = config.sampler;
  request.path_given = config.path_given;
  request.prediction_given = config.prediction_given;
  request.prior = config.prior;
  request.source = config.checkpoint;
  const auto objective = load_objective(weights, model->num_classes());
  const auto sampler =
      objective ? objective->sampler(request) : flow_sampler(request, model->num_classes());

  const int64_t n = config.n, C = model->in_channels(), S = model->image_size();
  const auto labels = labels_for(config, model->num_classes());
  // Latent models: images have the VAE's channels and its upsampling factor times the size
  models::AutoencoderKL vae{nullptr};
  if (!config.vae.empty()) {
    vae = models::load_vae(config.vae, config.vae_config, device);
    FLUXION_CHECK(vae->config().latent_channels == C, "the VAE ", config.vae, " has ", vae->config().latent_channels,
                  " latent channels, the model samples ", C);
  }
  const int64_t image_channels = vae ? vae->config().out_channels : C;
  const int64_t image_size = vae ? S * vae->config().downsampling_factor() : S;
  torch::Tensor init_noise;
  if (!config.init_noise.empty()) {
    init_noise = core::load_npy(config.init_noise).to(torch::kFloat);
    FLUXION_CHECK(init_noise.dim() == 4 && init_noise.size(0) >= n && init_noise.size(1) == C &&
                      init_noise.size(2) == S && init_noise.size(3) == S,
                  config.init_noise, ": noise of shape ", init_noise.sizes(), " does not fit ", n,
                  " images of ", C, "x", S, "x", S);
  }
  if (!config.out.empty()) core::ensure_directory(config.out);

  GenerateResult result;
  result.sampler_description = sampler->describe();
  core::log_info("sampling " + std::to_string(n) + " images with " + result.sampler_description +
                 " on " + core::device_summary(device));
  const auto rule = config.quantization == "adm" ? core::Quantization::adm_floor : core::Quantization::sit_round;
  auto all = torch::empty({n, image_channels, image_size, image_size}, torch::kUInt8);
  core::Progress progress("sample", n, "img");
  const auto start = std::chrono::steady_clock::now();
  torch::NoGradGuard no_grad;
  for (int64_t first = 0; first < n; first += config.batch) {
    const int64_t count = std::min(config.batch, n - first);
    // Reuse images already written (a re-run into the same folder).
    bool have_all = !config.out.empty();
    for (int64_t i = first; i < first + count && have_all; ++i)
      have_all = fs::exists(image_name(config.out, i, labels[i].item<int64_t>()));
    if (have_all) {
      for (int64_t i = first; i < first + count; ++i) {
        auto image = core::read_image(image_name(config.out, i, labels[i].item<int64_t>()),
                                      static_cast<int>(image_channels));
        FLUXION_CHECK(image.size(1) == image_size && image.size(2) == image_size, config.out,
                      ": existing image ", i, " has another size; use an empty --out");
        all[i].copy_(image);
      }
      result.skipped += count;
      progress.update(count, "reused");
      continue;
    }
    torch::Tensor noise;
    if (init_noise.defined()) {
      noise = init_noise.slice(0, first, first + count);
    } else {
      std::vector<torch::Tensor> draws;
      for (int64_t i = first; i < first + count; ++i) {
        auto gen = core::make_generator(core::derive_seed(config.seed, kNoiseStream + i));
        draws.push_back(core::randn({C, S, S}, gen));
      }
      noise = torch::stack(draws);
    }
    auto gen = core::make_generator(core::derive_seed(config.seed, kSdeStream + first), device);
    const samplers::ModelFn model_fn = [&](const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& y) {
      return model->forward(x, t, y).to(torch::kFloat);
    };
    const auto batch_labels = labels.slice(0, first, first + count).to(device);
    torch::Tensor sampled;
    {
      compat::AutocastGuard autocast(device.type(), precision);
      const auto r = sampler->sample(model_fn, batch_labels, noise.to(device), gen);
      result.nfe_per_batch = r.nfe;
      result.lost_images += r.lost_images;
      sampled = r.x;
      if (vae) sampled = vae->decode(sampled.to(torch::kFloat));  // (B, 4, h, w) -> (B, 3, 8h, 8w)
    }
    auto images = core::to_uint8(sampled.to(torch::kFloat).cpu(), rule);
    all.slice(0, first, first + count).copy_(images);
    if (!config.out.empty())
      for (int64_t i = 0; i < count; ++i)
        core::write_png(image_name(config.out, first + i, labels[first + i].item<int64_t>()), images[i]);
    result.generated += count;
    progress.update(count, "NFE " + std::to_string(result.nfe_per_batch));
  }
  progress.finish();
  if (result.lost_images > 0)
    core::log_warn(std::to_string(result.lost_images) + " of " + std::to_string(result.generated) +
                   " images left the positive range during sampling (values <= 0 or not finite) and are "
                   "flat filler, not samples: use smaller steps (--level-stride, --delta) or --sampler dls");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.images_per_second = static_cast<double>(result.generated) / std::max(seconds, 1e-9);

  if (!config.grid.empty()) {
    const int64_t g = std::min(config.grid_images, n);
    core::write_png(config.grid, core::make_grid(all.slice(0, 0, g)));
  }
  if (!config.npz.empty()) {
    // (N, C, H, W) -> (N, H, W, C), gray expanded to RGB as ADM's evaluator expects 3 channels
    auto nhwc = all.permute({0, 2, 3, 1}).contiguous();
    if (image_channels == 1) nhwc = nhwc.expand({n, image_size, image_size, 3}).contiguous();
    core::save_npz(config.npz, {{"arr_0", nhwc}, {"arr_1", labels}});
  }
  return result;
}

}  // namespace fluxion::objectives
