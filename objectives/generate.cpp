#include "objectives/generate.h"

#include <chrono>
#include <utility>

#include "core/atomic_file.h"
#include "core/compat.h"
#include "core/device.h"
#include "core/error.h"
#include "core/image_io.h"
#include "core/log.h"
#include "core/npy.h"
#include "core/progress.h"
#include "core/rng.h"
#include "models/vae.h"
#include "models/zoo.h"
#include "objectives/backbone_model_fn.h"
#include "objectives/checkpoint.h"
#include "objectives/flow_sampling.h"
#include "objectives/objective_config.h"
#include "objectives/sample_outputs.h"
#include "samplers/graphed_model.h"

namespace fluxion::objectives {

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

torch::Tensor labels_for(const GenerateConfig& config, int64_t num_classes) {
  if (config.classes == "balanced") return balanced_labels(config.n, num_classes);
  int64_t k = -1;
  try {
    size_t used = 0;
    k = std::stoll(config.classes, &used);
    FLUXION_CHECK(used == config.classes.size(), "");
  } catch (const std::exception&) {
    fail("--classes must be 'balanced' or a class index, got '", config.classes, "'");
  }
  FLUXION_CHECK(k >= 0 && k <= num_classes, "--classes ", k, " is outside 0..", num_classes, " (", num_classes,
                " is the null class)");
  return torch::full({config.n}, k, torch::kLong);
}

// The network with the checkpoint's weights, on the device in eval mode, and the sampler of
// the objective it was trained with.
struct SamplingModel {
  models::BackbonePtr model;
  torch::Device device{torch::kCPU};
  torch::ScalarType precision = torch::kFloat;
  std::unique_ptr<Objective> objective;  // null for converted official weights
  std::unique_ptr<ObjectiveSampler> sampler;
  samplers::ModelFn forward;  // the network as the samplers call it: float32 output, CUDA graphs on the GPU
};

SamplingModel load_sampling_model(const GenerateConfig& config) {
  FLUXION_CHECK(config.n > 0, "--n must be positive, got ", config.n);
  FLUXION_CHECK(config.batch > 0, "--batch must be positive, got ", config.batch);
  FLUXION_CHECK(config.quantization == "sit" || config.quantization == "adm",
                "--quantization must be sit or adm, got '", config.quantization, "'");
  SamplingModel m;
  const auto weights = load_model_weights(config.checkpoint, config.weights);
  const auto model_config = resolve_model(config, weights);
  m.model = models::build_model(model_config);
  m.model->load_state(weights.weights, config.checkpoint);
  m.device = core::resolve_device(config.device);
  m.precision = core::resolve_precision(config.precision, m.device);
  m.model->to(m.device);
  m.model->eval();
  m.forward = samplers::graphed(backbone_model_fn(m.model), config.cuda_graphs);

  // The objective the weights were trained with decides the sampler family, and for flows the
  // path, prediction and end epsilons. Converted official weights record none: a flow sampler
  // samples them exactly as configured.
  SamplingRequest request;
  request.sampler = config.sampler;
  request.path_given = config.path_given;
  request.prediction_given = config.prediction_given;
  request.prior = config.prior;
  request.source = config.checkpoint;
  m.objective = load_objective(weights, m.model->num_classes());
  m.sampler = m.objective ? m.objective->sampler(request) : flow_sampler(request, m.model->num_classes());
  return m;
}

// What is sampled: the labels, the model's inputs (C, S) and, through the VAE of latent models,
// the images (image_channels, image_size), from seeded draws or --init-noise.
struct ImagePlan {
  torch::Tensor labels;  // int64 (n)
  int64_t C = 0, S = 0;
  models::AutoencoderKL vae{nullptr};
  int64_t image_channels = 0, image_size = 0;
  torch::Tensor init_noise;  // undefined: seeded draws
};

ImagePlan plan_images(const GenerateConfig& config, const SamplingModel& m) {
  ImagePlan plan;
  const int64_t n = config.n;
  plan.C = m.model->in_channels();
  plan.S = m.model->image_size();
  const int64_t C = plan.C, S = plan.S;
  plan.labels = labels_for(config, m.model->num_classes());
  // Latent models: images have the VAE's channels and its upsampling factor times the size
  if (!config.vae.empty()) {
    plan.vae = models::load_vae(config.vae, config.vae_config, m.device);
    if (m.precision == torch::kBFloat16) plan.vae->to(torch::kBFloat16);  // decodes in bf16, without autocast
    FLUXION_CHECK(plan.vae->config().latent_channels == C, "the VAE ", config.vae, " has ",
                  plan.vae->config().latent_channels, " latent channels, the model samples ", C);
  }
  plan.image_channels = plan.vae ? plan.vae->config().out_channels : C;
  plan.image_size = plan.vae ? S * plan.vae->config().downsampling_factor() : S;
  if (!config.init_noise.empty()) {
    plan.init_noise = core::load_npy(config.init_noise).to(torch::kFloat);
    const auto& z = plan.init_noise;
    FLUXION_CHECK(z.dim() == 4 && z.size(0) >= n && z.size(1) == C && z.size(2) == S && z.size(3) == S,
                  config.init_noise, ": noise of shape ", z.sizes(), " does not fit ", n, " images of ", C, "x", S, "x",
                  S);
  }
  return plan;
}

// The initial noise of images [first, first + count): image i's from its own generator seeded by
// (seed, i), so the batch size does not change it.
torch::Tensor batch_noise(const GenerateConfig& config, const ImagePlan& plan, int64_t first, int64_t count) {
  if (plan.init_noise.defined()) return plan.init_noise.slice(0, first, first + count);
  return sample_noise(config.seed, first, count, plan.C, plan.S);
}

// Images [first, first + count) sampled (and decoded by the VAE), as uint8 (count, C, H, W) on
// the CPU; the batch's NFE and lost images go into `result`.
torch::Tensor sample_batch(const GenerateConfig& config, const SamplingModel& m, const ImagePlan& plan, int64_t first,
                           int64_t count, GenerateResult& result) {
  const auto noise = batch_noise(config, plan, first, count);
  auto gen = sample_batch_generator(config.seed, first, m.device);
  const auto batch_labels = plan.labels.slice(0, first, first + count).to(m.device);
  torch::Tensor sampled;
  {
    compat::AutocastGuard autocast(m.device.type(), m.precision);
    const auto r = m.sampler->sample(m.forward, batch_labels, noise.to(m.device), gen);
    result.nfe_per_batch = r.nfe;
    result.lost_images += r.lost_images;
    sampled = r.x;
  }
  if (auto vae = plan.vae) sampled = vae->decode(sampled.to(torch::kFloat));  // (B, 4, h, w) -> (B, 3, 8h, 8w)
  const auto rule = config.quantization == "adm" ? core::Quantization::adm_floor : core::Quantization::sit_round;
  return core::to_uint8(sampled.to(torch::kFloat).cpu(), rule);
}

// This rank's images, batch by batch with a progress bar: reused from --out when a batch is there
// already, otherwise sampled and written. The batches are those of one process; a rank takes a
// contiguous run of them (core::rank_rows). Returns the first image's index and uint8
// (count, C, H, W).
std::pair<int64_t, torch::Tensor> sample_rank_share(const GenerateConfig& config, const SamplingModel& m,
                                                    const ImagePlan& plan, GenerateResult& result) {
  const int64_t n = config.n;
  const auto [begin, end] = core::rank_rows(n, config.batch, config.ranks);
  auto mine = torch::empty({end - begin, plan.image_channels, plan.image_size, plan.image_size}, torch::kUInt8);
  core::Progress progress("sample", end - begin, "img");
  torch::NoGradGuard no_grad;
  for (int64_t first = begin; first < end; first += config.batch) {
    const int64_t count = std::min(config.batch, end - first);
    auto rows = mine.slice(0, first - begin, first - begin + count);
    if (reuse_written_images(config.out, plan.labels, first, count, rows)) {
      result.skipped += count;
      progress.update(count, "reused");
      continue;
    }
    const auto images = sample_batch(config, m, plan, first, count, result);
    rows.copy_(images);
    write_image_files(config.out, plan.labels, first, images);
    result.generated += count;
    progress.update(count, "NFE " + std::to_string(result.nfe_per_batch));
  }
  progress.finish();
  return {begin, mine};
}

// Every rank's images on rank 0 (uint8 (n, C, H, W); undefined elsewhere) and the counts summed
// over the ranks into rank 0's result. Rank 0 also writes the PNGs of other ranks that its
// folder lacks.
torch::Tensor gather_ranks(const GenerateConfig& config, const ImagePlan& plan, int64_t begin, torch::Tensor mine,
                           GenerateResult& result) {
  auto* ranks = config.ranks;
  if (ranks == nullptr) return mine;
  // [generated, skipped, lost, NFE of rank 0, ..., NFE of rank W-1]: a rank without batches has NFE 0
  auto counts = torch::zeros({3 + ranks->world_size()}, torch::kLong);
  counts[0] = result.generated;
  counts[1] = result.skipped;
  counts[2] = result.lost_images;
  counts[3 + ranks->rank()] = result.nfe_per_batch;
  ranks->sum(counts, "sample (counts)");
  auto all = ranks->gather_rows(mine, "sample (gathering images)");
  if (!core::is_root(ranks)) return {};
  result.generated = counts[0].item<int64_t>();
  result.skipped = counts[1].item<int64_t>();
  result.lost_images = counts[2].item<int64_t>();
  result.nfe_per_batch = counts.slice(0, 3).max().item<int64_t>();
  FLUXION_CHECK(all.size(0) == config.n, "sample: gathered ", all.size(0), " images from the ranks, expected ",
                config.n);
  write_image_files(config.out, plan.labels, 0, all.slice(0, 0, begin), /*only_missing=*/true);
  write_image_files(config.out, plan.labels, begin + mine.size(0), all.slice(0, begin + mine.size(0)),
                    /*only_missing=*/true);
  return all;
}

}  // namespace

torch::Tensor sample_noise(uint64_t seed, int64_t first, int64_t count, int64_t channels, int64_t size) {
  std::vector<torch::Tensor> draws;
  for (int64_t i = first; i < first + count; ++i) {
    auto gen = core::make_generator(core::derive_seed(seed, kNoiseStream + i));
    draws.push_back(core::randn({channels, size, size}, gen));
  }
  return torch::stack(draws);
}

at::Generator sample_batch_generator(uint64_t seed, int64_t first, const torch::Device& device) {
  return core::make_generator(core::derive_seed(seed, kSdeStream + first), device);
}

torch::Tensor balanced_labels(int64_t n, int64_t num_classes) {
  // Equal counts per class (the first n mod K classes get one more), in class-cycling order.
  return num_classes > 0 ? torch::arange(n, torch::kLong).remainder(num_classes) : torch::zeros({n}, torch::kLong);
}

GenerateResult generate(const GenerateConfig& config) {
  const auto m = load_sampling_model(config);
  const auto plan = plan_images(config, m);
  if (!config.out.empty()) core::ensure_directory(config.out);

  GenerateResult result;
  result.sampler_description = m.sampler->describe();
  core::log_info("sampling " + std::to_string(config.n) + " images with " + result.sampler_description + " on " +
                 core::device_summary(m.device));
  const auto start = std::chrono::steady_clock::now();
  auto [begin, mine] = sample_rank_share(config, m, plan, result);
  const auto all = gather_ranks(config, plan, begin, std::move(mine), result);
  if (!core::is_root(config.ranks)) return result;
  if (result.lost_images > 0)
    core::log_warn(std::to_string(result.lost_images) + " of " + std::to_string(result.generated) +
                   " images left the positive range during sampling (values <= 0 or not finite) and are "
                   "flat filler, not samples: use smaller steps (--level-stride, --delta) or --sampler dls");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.images_per_second = static_cast<double>(result.generated) / std::max(seconds, 1e-9);
  write_image_collections(config.grid, config.grid_images, config.npz, all, plan.labels);
  return result;
}

}  // namespace fluxion::objectives
