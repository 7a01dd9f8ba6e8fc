#include "metrics/fmnist_classifier.h"

#include <filesystem>

#include "core/error.h"
#include "core/log.h"
#include "metrics/fmnist_training.h"

namespace fluxion::metrics {

namespace {
constexpr double kRequiredAccuracy = 0.90;
}  // namespace

FmnistClassifierImpl::FmnistClassifierImpl() {
  conv1 = register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 32, 3).padding(1)));
  conv2 = register_module("conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(32, 64, 3).padding(1)));
  fc1 = register_module("fc1", torch::nn::Linear(64 * 7 * 7, 128));
  fc2 = register_module("fc2", torch::nn::Linear(128, 10));
}

FmnistOutputs FmnistClassifierImpl::forward(const torch::Tensor& x) {
  // (B, 1, 28, 28) -> (B, 32, 14, 14) -> (B, 64, 7, 7) -> (B, 3136)
  auto h = torch::max_pool2d(torch::relu(conv1->forward(x)), 2);
  h = torch::max_pool2d(torch::relu(conv2->forward(h)), 2).flatten(1);
  auto features = fc1->forward(h);
  return {features, fc2->forward(torch::relu(features))};
}

torch::Tensor fmnist_preprocess(const torch::Tensor& images_u8) {
  FLUXION_CHECK(images_u8.dim() == 4, "fmnist classifier: images must be (B, C, H, W), got shape ", images_u8.sizes());
  auto x = images_u8.to(torch::kFloat).mean(1, /*keepdim=*/true);
  if (x.size(2) == 32 && x.size(3) == 32) {
    x = x.narrow(2, 2, 28).narrow(3, 2, 28);
  } else if (x.size(2) != 28 || x.size(3) != 28) {
    x = torch::upsample_bilinear2d(x, {28, 28}, /*align_corners=*/false);
  }
  return x / 127.5f - 1.0f;
}

FmnistOutputs FmnistClassifierImpl::extract(const torch::Tensor& images_u8) {
  return forward(fmnist_preprocess(images_u8));
}

double fmnist_test_accuracy(FmnistClassifier& model, const torch::Device& device) {
  model->eval();
  return fmnist_accuracy([&](const torch::Tensor& x) { return model->extract(x).logits; }, device);
}

FmnistClassifier train_fmnist_classifier(const torch::Device& device, const FmnistTrainOptions& options,
                                         double* test_accuracy) {
  torch::manual_seed(options.seed);  // the initial weights
  FmnistClassifier model;
  model->to(device);
  torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(options.learning_rate));
  FmnistTrainLoop loop;
  loop.label = "fmnist classifier";
  loop.epochs = options.epochs;
  loop.batch_size = options.batch_size;
  loop.seed = options.seed;
  // the last two epochs at a fifth of the rate settle the weights (89.9% -> above 90%)
  loop.learning_rate = [&options](int64_t step, int64_t steps_per_epoch, int64_t) {
    return step / steps_per_epoch >= options.epochs - 2 ? 0.2 * options.learning_rate : options.learning_rate;
  };
  train_fmnist_model(
      *model, optimizer, [&](const torch::Tensor& x) { return model->extract(x).logits; }, device, loop);
  const double accuracy = fmnist_test_accuracy(model, device);
  if (test_accuracy) *test_accuracy = accuracy;
  return model;
}

std::string shipped_fmnist_classifier() { return shipped_fmnist_weights("fmnist_classifier.safetensors"); }

FmnistClassifier load_or_train_fmnist_classifier(const std::string& path, const torch::Device& device) {
  if (std::filesystem::exists(path)) {
    FmnistClassifier model;
    load_fmnist_weights(*model, path, device, "the Fashion-MNIST classifier");
    return model;
  }
  core::log_info("no Fashion-MNIST classifier at " + path + "; training one (a few minutes on a CPU)");
  double accuracy = 0;
  auto model = train_fmnist_classifier(device, {}, &accuracy);
  core::TensorMap weights;
  for (const auto& item : model->named_parameters()) weights[item.key()] = item.value().detach();
  cache_fmnist_weights(path, weights, accuracy, kRequiredAccuracy, "Fashion-MNIST classifier");
  return model;
}

}  // namespace fluxion::metrics
