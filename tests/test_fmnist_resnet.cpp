#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>

#include "core/rng.h"
#include "core/safetensors.h"
#include "metrics/features.h"
#include "metrics/feature_stats.h"
#include "metrics/fmnist_resnet.h"
#include "metrics/fmnist_training.h"
#include "models/module_state.h"
#include "test_helpers.h"
#include "train/drl_encoder.h"

using namespace fluxion;

namespace {
// The shipped network, as `--features fmnist-resnet` loads it on a machine without a cache.
metrics::FmnistResnet shipped_resnet(core::Metadata* metadata = nullptr) {
  const auto path = metrics::shipped_fmnist_resnet();
  REQUIRE(!path.empty());
  metrics::FmnistResnet model;
  models::load_module_state(*model, core::load_safetensors(path, metadata), path, "the Fashion-MNIST residual network");
  model->eval();
  return model;
}

// features (N, 128) of uint8 images, in batches
torch::Tensor features_of(metrics::FeatureExtractor& extractor, const torch::Tensor& images) {
  std::vector<torch::Tensor> parts;
  for (int64_t i = 0; i < images.size(0); i += 1000)
    parts.push_back(extractor.extract(images.narrow(0, i, std::min<int64_t>(1000, images.size(0) - i))).features);
  return torch::cat(parts);
}
}  // namespace

TEST_CASE("fmnist-resnet: a residual network of its own shapes and names", "[unit][fmnist]") {
  torch::manual_seed(0);
  metrics::FmnistResnet model;
  model->eval();
  torch::NoGradGuard no_grad;
  const auto out = model->extract(torch::randint(0, 256, {3, 3, 32, 32}).to(torch::kUInt8));
  CHECK(out.features.sizes() == torch::IntArrayRef({3, 128}));
  CHECK(out.logits.sizes() == torch::IntArrayRef({3, 10}));
  // torchvision's names; not the conv-conv-fc-fc classifier of `fmnist` (its weights do not load)
  const auto state = models::module_state(*model);
  for (const char* name : {"conv1.weight", "bn1.running_var", "layer1.0.conv2.weight", "layer2.0.downsample.0.weight",
                           "layer3.0.bn2.bias", "fc.weight"})
    CHECK(state.count(name) == 1);
  CHECK(state.count("conv1.bias") == 0);  // BatchNorm follows every convolution
  metrics::FmnistClassifier classifier;
  CHECK_THROWS(models::load_module_state(*model, models::module_state(*classifier), "classifier", "fmnist-resnet"));
  int64_t parameters = 0;
  for (const auto& p : model->parameters()) parameters += p.numel();
  CHECK(parameters < 500000);  // the shipped file stays small
}

TEST_CASE("fmnist-resnet augmentation: seeded flips and shifts", "[unit][fmnist]") {
  auto images = torch::zeros({64, 1, 28, 28}, torch::kUInt8);
  images.narrow(2, 10, 8).narrow(3, 4, 6).fill_(200);  // an off-centre block
  auto gen = core::make_generator(3);
  const auto a = metrics::fmnist_augment(images, gen, true, 2);
  auto gen2 = core::make_generator(3);
  CHECK(torch::equal(a, metrics::fmnist_augment(images, gen2, true, 2)));
  CHECK(a.sizes() == images.sizes());
  CHECK(a.dtype() == torch::kUInt8);
  // the block stays whole (it is 10 px from every edge) and moves by at most 2 px
  CHECK(torch::equal(a.to(torch::kLong).sum({1, 2, 3}), images.to(torch::kLong).sum({1, 2, 3})));
  CHECK(!torch::equal(a, images));
  // flips only: every image is itself or its mirror, and both occur
  auto gen3 = core::make_generator(4);
  const auto f = metrics::fmnist_augment(images, gen3, true, 0);
  int mirrored = 0;
  for (int64_t i = 0; i < f.size(0); ++i) {
    const bool same = torch::equal(f[i], images[i]);
    const bool flipped = torch::equal(f[i], images[i].flip({2}));
    CHECK(same != flipped);
    mirrored += flipped;
  }
  CHECK(mirrored > 10);
  CHECK(mirrored < 54);
}

TEST_CASE("the shipped fmnist-resnet has its recorded test accuracy, at least 91%", "[unit][fmnist]") {
  // metrics/weights/fmnist_resnet.safetensors is what `--features fmnist-resnet` uses on a machine
  // that has not trained its own (tools/make_fmnist_classifier.sh resnet reproduces it).
  test::require_fashion_mnist();
  core::Metadata metadata;
  auto model = shipped_resnet(&metadata);
  const double recorded = std::stod(metadata.at("test_accuracy"));
  const double measured = metrics::fmnist_resnet_test_accuracy(model, torch::kCPU);
  WARN("shipped fmnist-resnet test accuracy " << measured << " (" << metadata.at("recipe") << ")");
  CHECK(measured == Approx(recorded).margin(1e-12));
  CHECK(measured >= 0.91);
  CHECK(std::filesystem::file_size(metrics::shipped_fmnist_resnet()) < 2'000'000);
  // `--features fmnist-resnet` resolves to it where no cached network exists
  const char* previous = std::getenv("FLUXION_CACHE");
  const std::string saved = previous ? previous : "";
  ::setenv("FLUXION_CACHE", (test::scratch_dir("fmnist_resnet_no_cache") + "/none").c_str(), 1);
  const auto spec = metrics::parse_feature_spec("fmnist-resnet");
  if (previous) {
    ::setenv("FLUXION_CACHE", saved.c_str(), 1);
  } else {
    ::unsetenv("FLUXION_CACHE");
  }
  CHECK(spec.kind == metrics::FeatureKind::fmnist_resnet);
  CHECK(spec.weights == metrics::shipped_fmnist_resnet());
  // a WEIGHTS file that does not exist is where one is trained (tools/make_fmnist_classifier.sh)
  const auto fresh = test::scratch_dir("fmnist_resnet_fresh") + "/new.safetensors";
  CHECK(metrics::parse_feature_spec("fmnist-resnet:" + fresh).weights == fresh);
}

TEST_CASE("fmnist-resnet features: FD between halves of the test set is far below FD against blurred images",
          "[unit][fmnist]") {
  test::require_fashion_mnist();
  const auto extractor = metrics::make_feature_extractor(
      metrics::parse_feature_spec("fmnist-resnet:" + metrics::shipped_fmnist_resnet()), torch::kCPU);
  auto [all_images, labels] = metrics::load_fmnist_split("fashion-mnist:test");
  const auto images = all_images.narrow(0, 0, 6000);  // two halves of 3,000
  const auto batch = extractor->extract(images.narrow(0, 0, 7));
  CHECK(batch.features.sizes() == torch::IntArrayRef({7, 128}));
  CHECK(batch.logits.sizes() == torch::IntArrayRef({7, 10}));
  CHECK(!batch.spatial.defined());
  // 3x3 box blur, back to uint8
  const auto blurred =
      torch::avg_pool2d(images.to(torch::kFloat), 3, 1, 1, /*ceil_mode=*/false, /*count_include_pad=*/false)
          .round()
          .to(torch::kUInt8);
  const auto real = features_of(*extractor, images);
  const auto blur = features_of(*extractor, blurred);
  const int64_t half = images.size(0) / 2;
  const double fd_halves = metrics::frechet_distance(metrics::stats_of(real.narrow(0, 0, half)),
                                                     metrics::stats_of(real.narrow(0, half, half)));
  const double fd_blur = metrics::frechet_distance(metrics::stats_of(real.narrow(0, 0, half)),
                                                   metrics::stats_of(blur.narrow(0, half, half)));
  WARN("fmnist-resnet FD: halves " << fd_halves << ", against blurred " << fd_blur);
  CHECK(fd_halves > 0);
  CHECK(fd_blur > 10 * fd_halves);
}

TEST_CASE("fmnist-resnet as the frozen encoder of DRL finetuning: the evaluation features on float images",
          "[unit][fmnist]") {
  const auto weights = metrics::shipped_fmnist_resnet();
  REQUIRE(!weights.empty());
  auto encoder = train::make_frozen_encoder("fmnist-resnet:" + weights, torch::kCPU);
  CHECK(encoder->dim() == 128);
  const auto images_u8 = torch::randint(0, 256, {4, 1, 28, 28}).to(torch::kUInt8);
  const auto images = images_u8.to(torch::kFloat) / 127.5 - 1.0;  // [0, 255] -> [-1, 1]
  const auto encoded = train::encode_all(*encoder, images);
  const auto extractor =
      metrics::make_feature_extractor(metrics::parse_feature_spec("fmnist-resnet:" + weights), torch::kCPU);
  CHECK(encoded.sizes() == torch::IntArrayRef({4, 128}));
  CHECK(test::max_abs_diff(encoded, extractor->extract(images_u8).features) < 1e-4);
}

TEST_CASE("fmnist-resnet trains to >= 91% test accuracy and caches itself", "[slow][fmnist]") {
  test::require_fashion_mnist();
  const auto path = test::scratch_dir("fmnist_resnet") + "/fmnist_resnet.safetensors";
  std::filesystem::remove(path);
  auto model = metrics::load_or_train_fmnist_resnet(path, torch::kCPU);
  core::Metadata metadata;
  core::load_safetensors(path, &metadata);
  const double accuracy = std::stod(metadata.at("test_accuracy"));
  WARN("fmnist-resnet test accuracy " << accuracy);
  CHECK(accuracy >= 0.91);
  auto cached = metrics::load_or_train_fmnist_resnet(path, torch::kCPU);
  CHECK(metrics::fmnist_resnet_test_accuracy(cached, torch::kCPU) == Approx(accuracy).margin(1e-12));
}
