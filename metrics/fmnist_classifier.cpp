#include "metrics/fmnist_classifier.h"

#include <filesystem>

#include "core/atomic_file.h"
#include "core/dataset.h"
#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/rng.h"
#include "core/safetensors.h"
#include "models/module_state.h"

namespace fluxion::metrics {

namespace {
constexpr double kRequiredAccuracy = 0.90;

// Every image and label of a split as uint8 (N, 1, 28, 28) and int64 (N)
std::pair<torch::Tensor, torch::Tensor> load_split(const std::string& spec) {
  auto data = core::open_dataset(spec);
  std::vector<int64_t> indices(static_cast<size_t>(data->size()));
  for (size_t i = 0; i < indices.size(); ++i) indices[i] = static_cast<int64_t>(i);
  torch::Tensor labels;
  auto images = core::load_images(*data, indices, 0, &labels);
  return {images, labels};
}
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
  FLUXION_CHECK(images_u8.dim() == 4, "fmnist classifier: images must be (B, C, H, W), got shape ",
                images_u8.sizes());
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
  torch::NoGradGuard no_grad;
  model->eval();
  auto [images, labels] = load_split("fashion-mnist:test");
  int64_t correct = 0;
  for (int64_t i = 0; i < images.size(0); i += 1000) {
    const int64_t n = std::min<int64_t>(1000, images.size(0) - i);
    const auto logits = model->extract(images.narrow(0, i, n).to(device)).logits;
    correct += (logits.argmax(1).cpu() == labels.narrow(0, i, n)).sum().item<int64_t>();
  }
  return static_cast<double>(correct) / static_cast<double>(images.size(0));
}

FmnistClassifier train_fmnist_classifier(const torch::Device& device, const FmnistTrainOptions& options,
                                         double* test_accuracy) {
  torch::manual_seed(options.seed);  // the initial weights
  FmnistClassifier model;
  model->to(device);
  auto [images, labels] = load_split("fashion-mnist:train");
  torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(options.learning_rate));
  auto gen = core::make_generator(options.seed);
  const int64_t n = images.size(0);
  const int64_t steps_per_epoch = n / options.batch_size;
  core::Progress progress("fmnist classifier", steps_per_epoch * options.epochs, "step");
  std::string status;
  for (int epoch = 0; epoch < options.epochs; ++epoch) {
    model->train();
    // the last two epochs at a fifth of the rate settle the weights (89.9% -> above 90%)
    const double lr = epoch >= options.epochs - 2 ? 0.2 * options.learning_rate : options.learning_rate;
    for (auto& group : optimizer.param_groups())
      static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);
    const auto order = core::randperm(n, gen);
    for (int64_t step = 0; step < steps_per_epoch; ++step) {
      const auto idx = order.narrow(0, step * options.batch_size, options.batch_size);
      const auto x = images.index_select(0, idx).to(device);
      const auto y = labels.index_select(0, idx).to(device);
      const auto loss = torch::cross_entropy_loss(model->extract(x).logits, y);
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
      if (step % 50 == 0) status = "epoch " + std::to_string(epoch + 1) + " loss " + std::to_string(loss.item<double>());
      progress.update(1, status);
    }
  }
  progress.finish();
  model->eval();
  const double accuracy = fmnist_test_accuracy(model, device);
  if (test_accuracy) *test_accuracy = accuracy;
  return model;
}

std::string shipped_fmnist_classifier() {
  const auto path = std::filesystem::path(FLUXION_SOURCE_DIR) / "metrics" / "weights" / "fmnist_classifier.safetensors";
  return std::filesystem::exists(path) ? path.string() : std::string();
}

FmnistClassifier load_or_train_fmnist_classifier(const std::string& path, const torch::Device& device) {
  if (std::filesystem::exists(path)) {
    FmnistClassifier model;
    models::load_module_state(*model, core::load_safetensors(path), path, "the Fashion-MNIST classifier");
    model->to(device);
    model->eval();
    return model;
  }
  core::log_info("no Fashion-MNIST classifier at " + path + "; training one (a few minutes on a CPU)");
  double accuracy = 0;
  auto model = train_fmnist_classifier(device, {}, &accuracy);
  core::log_info("Fashion-MNIST classifier test accuracy: " + std::to_string(100.0 * accuracy) + "%");
  FLUXION_CHECK(accuracy >= kRequiredAccuracy, "fmnist classifier: test accuracy ", accuracy,
                " is below ", kRequiredAccuracy, "; not caching it");
  core::TensorMap weights;
  for (const auto& item : model->named_parameters()) weights[item.key()] = item.value().detach();
  const auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) core::ensure_directory(parent.string());
  core::save_safetensors(path, weights, {{"test_accuracy", std::to_string(accuracy)},
                                         {"dataset", "fashion-mnist:test"}});
  return model;
}

}  // namespace fluxion::metrics
