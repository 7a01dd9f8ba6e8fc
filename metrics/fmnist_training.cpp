#include "metrics/fmnist_training.h"

#include <filesystem>
#include <numeric>

#include "core/atomic_file.h"
#include "core/dataset.h"
#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/rng.h"
#include "models/module_state.h"

namespace fluxion::metrics {

std::pair<torch::Tensor, torch::Tensor> load_fmnist_split(const std::string& spec) {
  auto data = core::open_dataset(spec);
  std::vector<int64_t> indices(static_cast<size_t>(data->size()));
  std::iota(indices.begin(), indices.end(), int64_t{0});
  torch::Tensor labels;
  auto images = core::load_images(*data, indices, 0, &labels);
  return {images, labels};
}

double fmnist_accuracy(const FmnistLogits& logits, const torch::Device& device, int64_t limit) {
  torch::NoGradGuard no_grad;
  auto [images, labels] = load_fmnist_split("fashion-mnist:test");
  const int64_t total = limit > 0 ? std::min(limit, images.size(0)) : images.size(0);
  int64_t correct = 0;
  for (int64_t i = 0; i < total; i += 1000) {
    const int64_t n = std::min<int64_t>(1000, total - i);
    const auto predicted = logits(images.narrow(0, i, n).to(device)).argmax(1).cpu();
    correct += (predicted == labels.narrow(0, i, n)).sum().item<int64_t>();
  }
  return static_cast<double>(correct) / static_cast<double>(total);
}

void train_fmnist_model(torch::nn::Module& model, torch::optim::Optimizer& optimizer, const FmnistLogits& logits,
                        const torch::Device& device, const FmnistTrainLoop& loop) {
  FLUXION_CHECK(loop.epochs > 0 && loop.batch_size > 0, loop.label, ": epochs and batch size must be positive, got ",
                loop.epochs, " and ", loop.batch_size);
  auto [images, labels] = load_fmnist_split("fashion-mnist:train");
  auto gen = core::make_generator(loop.seed);
  const int64_t n = images.size(0);
  const int64_t steps_per_epoch = n / loop.batch_size;
  const int64_t steps = steps_per_epoch * loop.epochs;
  core::Progress progress(loop.label, steps, "step");
  std::string status;
  for (int epoch = 0; epoch < loop.epochs; ++epoch) {
    model.train();
    const auto order = core::randperm(n, gen);
    for (int64_t step = 0; step < steps_per_epoch; ++step) {
      const double lr = loop.learning_rate(epoch * steps_per_epoch + step, steps_per_epoch, steps);
      for (auto& group : optimizer.param_groups()) group.options().set_lr(lr);
      const auto idx = order.narrow(0, step * loop.batch_size, loop.batch_size);
      auto batch = images.index_select(0, idx);
      if (loop.augment) batch = loop.augment(batch, gen);
      const auto x = batch.to(device);
      const auto y = labels.index_select(0, idx).to(device);
      const auto loss = torch::cross_entropy_loss(logits(x), y);
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
      if (step % 50 == 0)
        status = "epoch " + std::to_string(epoch + 1) + " loss " + std::to_string(loss.item<double>());
      progress.update(1, status);
    }
  }
  progress.finish();
  model.eval();
}

void load_fmnist_weights(torch::nn::Module& model, const std::string& path, const torch::Device& device,
                         const std::string& what) {
  models::load_module_state(model, core::load_safetensors(path), path, what);
  model.to(device);
  model.eval();
}

void cache_fmnist_weights(const std::string& path, const core::TensorMap& weights, double accuracy, double required,
                          const std::string& what, core::Metadata metadata) {
  core::log_info(what + " test accuracy: " + std::to_string(100.0 * accuracy) + "%");
  FLUXION_CHECK(accuracy >= required, what, ": test accuracy ", accuracy, " is below ", required, "; not caching it");
  metadata["test_accuracy"] = std::to_string(accuracy);
  metadata["dataset"] = "fashion-mnist:test";
  const auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) core::ensure_directory(parent.string());
  core::save_safetensors(path, weights, metadata);
}

std::string shipped_fmnist_weights(const std::string& file) {
  const auto path = std::filesystem::path(FLUXION_SOURCE_DIR) / "metrics" / "weights" / file;
  return std::filesystem::exists(path) ? path.string() : std::string();
}

}  // namespace fluxion::metrics
