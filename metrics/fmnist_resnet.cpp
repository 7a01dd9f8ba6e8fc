#include "metrics/fmnist_resnet.h"

#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "core/log.h"
#include "core/rng.h"
#include "metrics/fmnist_training.h"
#include "models/module_state.h"

namespace fluxion::metrics {

namespace {
constexpr double kRequiredAccuracy = 0.91;
constexpr int64_t kWarmupSteps = 100;

torch::nn::Conv2d conv3x3(int64_t in, int64_t out, int64_t stride) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).stride(stride).padding(1).bias(false));
}

std::string recipe(const FmnistResnetTrainOptions& o) {
  return "AdamW lr " + std::to_string(o.learning_rate) + " (warm-up " + std::to_string(kWarmupSteps) +
         " steps, cosine) weight decay " + std::to_string(o.weight_decay) + ", " + std::to_string(o.epochs) +
         " epochs of batch " + std::to_string(o.batch_size) + ", flips " + (o.flip ? "yes" : "no") + ", shifts " +
         std::to_string(o.max_shift) + " px, seed " + std::to_string(o.seed);
}
}  // namespace

FmnistBasicBlockImpl::FmnistBasicBlockImpl(int64_t in_channels, int64_t out_channels, int64_t stride) {
  conv1 = register_module("conv1", conv3x3(in_channels, out_channels, stride));
  bn1 = register_module("bn1", torch::nn::BatchNorm2d(out_channels));
  conv2 = register_module("conv2", conv3x3(out_channels, out_channels, 1));
  bn2 = register_module("bn2", torch::nn::BatchNorm2d(out_channels));
  if (stride != 1 || in_channels != out_channels) {
    downsample = register_module(
        "downsample",
        torch::nn::Sequential(
            torch::nn::Conv2d(torch::nn::Conv2dOptions(in_channels, out_channels, 1).stride(stride).bias(false)),
            torch::nn::BatchNorm2d(out_channels)));
  }
}

torch::Tensor FmnistBasicBlockImpl::forward(const torch::Tensor& x) {
  // (B, C, H, W) -> (B, C', H / stride, W / stride)
  auto h = torch::relu(bn1->forward(conv1->forward(x)));
  h = bn2->forward(conv2->forward(h));
  return torch::relu(h + (downsample ? downsample->forward(x) : x));
}

FmnistResnetImpl::FmnistResnetImpl() {
  conv1 = register_module("conv1", conv3x3(1, 32, 1));
  bn1 = register_module("bn1", torch::nn::BatchNorm2d(32));
  layer1 = register_module("layer1", torch::nn::Sequential(FmnistBasicBlock(32, 32, 2)));
  layer2 = register_module("layer2", torch::nn::Sequential(FmnistBasicBlock(32, 64, 2)));
  layer3 = register_module("layer3", torch::nn::Sequential(FmnistBasicBlock(64, kFeatureDim, 2)));
  fc = register_module("fc", torch::nn::Linear(kFeatureDim, 10));
}

FmnistOutputs FmnistResnetImpl::forward(const torch::Tensor& x) {
  auto h = torch::relu(bn1->forward(conv1->forward(x)));     // (B, 1, 28, 28) -> (B, 32, 28, 28)
  h = layer3->forward(layer2->forward(layer1->forward(h)));  // -> (B, 128, 4, 4)
  auto features = h.mean({2, 3});                            // -> (B, 128)
  return {features, fc->forward(features)};
}

FmnistOutputs FmnistResnetImpl::extract(const torch::Tensor& images_u8) {
  return forward(fmnist_preprocess(images_u8));
}

torch::Tensor fmnist_augment(const torch::Tensor& images_u8, at::Generator& gen, bool flip, int64_t max_shift) {
  FLUXION_CHECK(images_u8.dim() == 4, "fmnist augment: images must be (B, C, H, W), got shape ", images_u8.sizes());
  const int64_t b = images_u8.size(0), h = images_u8.size(2), w = images_u8.size(3);
  auto out = images_u8;
  if (flip) {
    const auto mirrored = (core::rand({b}, gen) < 0.5).view({b, 1, 1, 1});  // (B) -> (B, 1, 1, 1)
    out = torch::where(mirrored, out.flip({3}), out);
  }
  if (max_shift > 0) {
    const int64_t s = max_shift;
    const auto padded = torch::constant_pad_nd(out, {s, s, s, s}, 0);  // (B, C, H + 2s, W + 2s)
    const auto offsets = core::randint(2 * s + 1, {b, 2}, gen);        // (B, 2): dy, dx in [0, 2s]
    auto shifted = torch::empty_like(out);
    const auto* o = offsets.data_ptr<int64_t>();
    for (int64_t i = 0; i < b; ++i) shifted[i].copy_(padded[i].narrow(1, o[2 * i], h).narrow(2, o[2 * i + 1], w));
    out = shifted;
  }
  return out;
}

double fmnist_resnet_test_accuracy(FmnistResnet& model, const torch::Device& device, int64_t limit) {
  model->eval();
  return fmnist_accuracy([&](const torch::Tensor& x) { return model->extract(x).logits; }, device, limit);
}

FmnistResnet train_fmnist_resnet(const torch::Device& device, const FmnistResnetTrainOptions& options,
                                 double* test_accuracy) {
  torch::manual_seed(options.seed);  // the initial weights
  FmnistResnet model;
  model->to(device);
  torch::optim::AdamW optimizer(model->parameters(),
                                torch::optim::AdamWOptions(options.learning_rate).weight_decay(options.weight_decay));
  FmnistTrainLoop loop;
  loop.label = "fmnist resnet";
  loop.epochs = options.epochs;
  loop.batch_size = options.batch_size;
  loop.seed = options.seed;
  loop.learning_rate = [&options](int64_t step, int64_t, int64_t steps) {
    if (step < kWarmupSteps) return options.learning_rate * static_cast<double>(step + 1) / kWarmupSteps;
    const double progress = static_cast<double>(step - kWarmupSteps) / static_cast<double>(steps - kWarmupSteps);
    return 0.5 * options.learning_rate * (1.0 + std::cos(M_PI * progress));
  };
  if (options.flip || options.max_shift > 0) {
    loop.augment = [&options](const torch::Tensor& x, at::Generator& gen) {
      return fmnist_augment(x, gen, options.flip, options.max_shift);
    };
  }
  train_fmnist_model(
      *model, optimizer, [&](const torch::Tensor& x) { return model->extract(x).logits; }, device, loop);
  const double accuracy = fmnist_resnet_test_accuracy(model, device);
  if (test_accuracy) *test_accuracy = accuracy;
  return model;
}

std::string shipped_fmnist_resnet() { return shipped_fmnist_weights("fmnist_resnet.safetensors"); }

FmnistResnet load_or_train_fmnist_resnet(const std::string& path, const torch::Device& device) {
  if (std::filesystem::exists(path)) {
    FmnistResnet model;
    load_fmnist_weights(*model, path, device, "the Fashion-MNIST residual network");
    return model;
  }
  core::log_info("no Fashion-MNIST residual network at " + path + "; training one (about ten minutes on a CPU)");
  const FmnistResnetTrainOptions options;
  double accuracy = 0;
  auto model = train_fmnist_resnet(device, options, &accuracy);
  cache_fmnist_weights(path, models::module_state(*model), accuracy, kRequiredAccuracy,
                       "Fashion-MNIST residual network",
                       {{"architecture", "fmnist-resnet: conv 32, basic blocks 32/64/128 stride 2, average pool, fc"},
                        {"recipe", recipe(options)}});
  return model;
}

}  // namespace fluxion::metrics
