#include "train/drl_disc_stage.h"

#include <numeric>

#include "core/error.h"
#include "core/log.h"
#include "core/rng.h"
#include "objectives/backbone_model_fn.h"

namespace fluxion::train {

std::shared_ptr<core::Dataset> open_finetune_data(const std::string& spec, int64_t channels, int64_t image_size) {
  auto raw = core::open_dataset(spec);
  FLUXION_CHECK(raw->channels() == channels, "--data ", spec, " has ", raw->channels(),
                "-channel images, but the model makes ", channels, "-channel ones",
                channels == 4 ? " (a latent model: DRL finetuning works on pixel models)" : "");
  const int64_t h = raw->height(), w = raw->width();
  if (h == image_size && w == image_size) return raw;
  FLUXION_CHECK(h <= image_size && w <= image_size && image_size - h <= 8 && image_size - w <= 8, "--data ", spec,
                " has ", h, "x", w, " images, but the model makes ", image_size, "x", image_size,
                " ones (only padding by up to 4 pixels a side, as training pads 28 -> 32, is applied)");
  core::ImageTransform pad;
  pad.pad_to = static_cast<int>(image_size);
  return core::open_dataset(spec, pad);
}

LabelledImages draw_real_images(const core::Dataset& data, int64_t n, uint64_t seed, int threads) {
  FLUXION_CHECK(data.size() >= n, data.describe(), " holds fewer than the ", n,
                " real images asked for (--disc-samples)");
  auto gen = core::make_generator(seed);
  auto order = torch::randperm(data.size(), gen, torch::kLong).slice(0, 0, n);
  std::vector<int64_t> indices(order.data_ptr<int64_t>(), order.data_ptr<int64_t>() + n);
  LabelledImages out;
  auto images = core::load_images(data, indices, threads, &out.labels);  // uint8 (n, C, H, W)
  out.images = images.to(torch::kFloat) / 127.5 - 1.0;
  out.labels = out.labels.to(torch::kLong);
  return out;
}

LabelledImages draw_model_samples(models::Backbone& model, const objectives::ObjectiveSampler& sampler, int64_t n,
                                  int64_t num_classes, uint64_t seed, const torch::Device& device, int64_t batch) {
  torch::NoGradGuard no_grad;
  auto gen = core::make_generator(seed);
  const int64_t C = model.in_channels(), S = model.image_size();
  LabelledImages out;
  out.labels = num_classes > 0 ? torch::arange(n, torch::kLong).remainder(num_classes)
                               : torch::full({n}, model.num_classes(), torch::kLong);
  const samplers::ModelFn fn = objectives::backbone_model_fn(model);
  std::vector<torch::Tensor> parts;
  for (int64_t first = 0; first < n; first += batch) {
    const int64_t count = std::min(batch, n - first);
    auto z = core::randn({count, C, S, S}, gen).to(device);
    auto sde_gen = core::make_generator(core::derive_seed(seed, 1 + first), device);
    auto labels = out.labels.slice(0, first, first + count).to(device);
    parts.push_back(sampler.sample(fn, labels, z, sde_gen).x.to(torch::kFloat).clamp(-1, 1).cpu());
  }
  out.images = torch::cat(parts);
  return out;
}

DiscriminatorStage fit_discriminator_stage(FrozenEncoder& encoder, const LabelledImages& real,
                                           const LabelledImages& generated, int64_t num_classes,
                                           const FinetuneConfig& config, uint64_t seed, const torch::Device& device) {
  const auto real_features = encode_all(encoder, real.images);       // (M, d)
  const auto base_features = encode_all(encoder, generated.images);  // (M, d)
  DiscriminatorStage stage;
  torch::manual_seed(seed);  // the head's initialisation
  stage.head = DiscriminatorHead(DiscriminatorConfig{encoder.dim(), config.disc_hidden, num_classes});
  stage.head->to(device);
  DiscriminatorTraining training;
  training.lr = config.disc_lr;
  training.batch = config.disc_batch;
  training.max_epochs = config.disc_epochs;
  training.patience = config.disc_patience;
  training.seed = seed;
  // unlabelled data trains an unconditional head: every row gets the null label
  auto labels_of = [&](const torch::Tensor& y) { return num_classes > 0 ? y : torch::full_like(y, -1); };
  stage.fit = train_discriminator(stage.head, real_features, labels_of(real.labels), base_features,
                                  labels_of(generated.labels), training);
  for (auto& p : stage.head->parameters()) p.set_requires_grad(false);
  stage.head->eval();
  return stage;
}

}  // namespace fluxion::train
