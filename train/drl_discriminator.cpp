#include "train/drl_discriminator.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"
#include "models/layers.h"
#include "models/module_state.h"
#include "train/adamw.h"

namespace fluxion::train {

DiscriminatorHeadImpl::DiscriminatorHeadImpl(DiscriminatorConfig config) : config_(config) {
  FLUXION_CHECK(config_.feature_dim > 0 && config_.hidden > 0 && config_.num_classes >= 0,
                "discriminator: feature_dim and hidden must be positive");
  norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({config_.feature_dim})));
  fc1 = register_module("fc1", torch::nn::Linear(config_.feature_dim, config_.hidden));
  fc2 = register_module("fc2", torch::nn::Linear(config_.hidden, 1));
  if (config_.num_classes > 0) {
    class_embed = register_module("class_embed", torch::nn::Embedding(config_.num_classes, config_.hidden));
    torch::NoGradGuard no_grad;
    class_embed->weight.normal_(0.0, 1.0 / std::sqrt(static_cast<double>(config_.hidden)));
  }
}

torch::Tensor DiscriminatorHeadImpl::forward(const torch::Tensor& features, const torch::Tensor& labels) {
  FLUXION_CHECK(features.dim() == 2 && features.size(1) == config_.feature_dim, "discriminator: features of shape ",
                features.sizes(), " do not fit (B, ", config_.feature_dim, ")");
  auto hidden = torch::gelu(models::linear(fc1, norm->forward(features.to(torch::kFloat))));  // (B, hidden)
  auto logits = models::linear(fc2, hidden).squeeze(-1);                                      // (B)
  if (class_embed) {
    FLUXION_CHECK(labels.defined() && labels.dim() == 1 && labels.size(0) == features.size(0),
                  "discriminator: a class-conditional head needs one label per feature row");
    // the null label (classifier-free guidance's) and unlabelled rows get no class term
    auto known = (labels >= 0).logical_and(labels < config_.num_classes);
    auto projection = (class_embed->forward(labels.clamp(0, config_.num_classes - 1)) * hidden).sum(-1);
    logits = logits + projection * known.to(projection.dtype());
  }
  return logits;
}

namespace {
// Balanced BCE and balanced accuracy of the head on (real, base), in chunks, without gradients.
std::pair<double, double> evaluate(DiscriminatorHead& head, const torch::Tensor& real_f, const torch::Tensor& real_y,
                                   const torch::Tensor& base_f, const torch::Tensor& base_y) {
  torch::NoGradGuard no_grad;
  double losses[2] = {0, 0}, correct[2] = {0, 0};
  const torch::Tensor* sets[2][2] = {{&real_f, &real_y}, {&base_f, &base_y}};
  for (int s = 0; s < 2; ++s) {
    const auto n = sets[s][0]->size(0);
    for (int64_t i = 0; i < n; i += 4096) {
      const auto j = std::min(n, i + 4096);
      auto logits = head->forward(sets[s][0]->slice(0, i, j), sets[s][1]->slice(0, i, j));
      auto target = torch::full_like(logits, s == 0 ? 1.0 : 0.0);
      losses[s] += torch::binary_cross_entropy_with_logits(logits, target, {}, {}, at::Reduction::Sum).item<double>();
      correct[s] += (s == 0 ? (logits > 0) : (logits <= 0)).sum().item<double>();
    }
    losses[s] /= std::max<int64_t>(n, 1);
    correct[s] /= std::max<int64_t>(n, 1);
  }
  return {(losses[0] + losses[1]) / 2, (correct[0] + correct[1]) / 2};
}

void check_set(const torch::Tensor& features, const torch::Tensor& labels, int64_t dim, const char* which) {
  FLUXION_CHECK(features.dim() == 2 && features.size(1) == dim, "discriminator: ", which, " features of shape ",
                features.sizes(), " do not fit (N, ", dim, ")");
  FLUXION_CHECK(labels.dim() == 1 && labels.size(0) == features.size(0), "discriminator: ", which,
                " labels do not match the features (", labels.sizes(), " for ", features.size(0), " rows)");
  FLUXION_CHECK(features.size(0) >= 2, "discriminator: at least 2 ", which, " feature rows are needed");
}
}  // namespace

DiscriminatorFit train_discriminator(DiscriminatorHead& head, const torch::Tensor& real_features,
                                     const torch::Tensor& real_labels, const torch::Tensor& base_features,
                                     const torch::Tensor& base_labels, const DiscriminatorTraining& t) {
  const auto dim = head->config().feature_dim;
  check_set(real_features, real_labels, dim, "real");
  check_set(base_features, base_labels, dim, "base");
  FLUXION_CHECK(t.batch >= 2 && t.batch % 2 == 0, "discriminator: the batch must be even (half real, half base)");
  const auto device = head->fc1->weight.device();
  auto gen = at::detail::createCPUGenerator(t.seed);
  // a seeded split of each set into training and held-out rows
  auto split = [&](const torch::Tensor& f, const torch::Tensor& y) {
    auto order = torch::randperm(f.size(0), gen, torch::kLong);
    const auto held = std::max<int64_t>(1, static_cast<int64_t>(std::round(f.size(0) * t.holdout_fraction)));
    auto train_idx = order.slice(0, held), held_idx = order.slice(0, 0, held);
    return std::array<torch::Tensor, 4>{f.index_select(0, train_idx).to(device),
                                        y.index_select(0, train_idx).to(device), f.index_select(0, held_idx).to(device),
                                        y.index_select(0, held_idx).to(device)};
  };
  const auto real = split(real_features.to(torch::kFloat), real_labels.to(torch::kLong));
  const auto base = split(base_features.to(torch::kFloat), base_labels.to(torch::kLong));

  std::vector<std::pair<std::string, torch::Tensor>> params;
  for (auto& p : head->named_parameters()) params.emplace_back(p.key(), p.value());
  AdamW optimizer(params, AdamWConfig{t.lr, 0.9, 0.999, 1e-8, t.weight_decay});
  const int64_t half = t.batch / 2;
  const int64_t steps_per_epoch = std::max<int64_t>(1, std::max(real[0].size(0), base[0].size(0)) / half);

  DiscriminatorFit fit;
  double best = -1.0;
  core::TensorMap best_state;
  for (int64_t epoch = 1; epoch <= t.max_epochs; ++epoch) {
    head->train();
    auto real_order = torch::randperm(real[0].size(0), gen, torch::kLong).to(device);
    auto base_order = torch::randperm(base[0].size(0), gen, torch::kLong).to(device);
    for (int64_t step = 0; step < steps_per_epoch; ++step) {
      // the smaller set cycles, so every batch is half real, half base
      auto take = [&](const torch::Tensor& order) {
        return order.index_select(
            0, torch::arange(step * half, (step + 1) * half, torch::kLong).to(device).remainder(order.size(0)));
      };
      auto ri = take(real_order), bi = take(base_order);
      auto features = torch::cat({real[0].index_select(0, ri), base[0].index_select(0, bi)});
      auto labels = torch::cat({real[1].index_select(0, ri), base[1].index_select(0, bi)});
      auto target = torch::cat({torch::ones({half}, features.options()), torch::zeros({half}, features.options())});
      auto loss = torch::binary_cross_entropy_with_logits(head->forward(features, labels), target);
      optimizer.zero_grad();
      loss.backward();
      optimizer.step(t.lr);
    }
    head->eval();
    const auto [held_loss, held_accuracy] = evaluate(head, real[2], real[3], base[2], base[3]);
    fit.epochs = epoch;
    if (held_accuracy > best) {
      best = held_accuracy;
      fit.best_epoch = epoch;
      fit.holdout_accuracy = held_accuracy;
      fit.holdout_loss = held_loss;
      best_state.clear();
      for (const auto& [name, tensor] : models::module_state(*head)) best_state[name] = tensor.detach().clone();
    } else if (epoch - fit.best_epoch >= t.patience) {
      break;
    }
  }
  models::load_module_state(*head, best_state, "the best epoch", "the discriminator");
  head->eval();
  fit.train_accuracy = evaluate(head, real[0], real[1], base[0], base[1]).second;
  return fit;
}

torch::Tensor discriminator_reward(DiscriminatorHead& head, const torch::Tensor& features, const torch::Tensor& labels,
                                   double scale) {
  if (!features.requires_grad()) {
    torch::NoGradGuard no_grad;
    return head->forward(features, labels) * scale;
  }
  return head->forward(features, labels) * scale;
}

void save_discriminator(const std::string& path, DiscriminatorHead& head, const std::string& features,
                        double holdout_accuracy) {
  const auto& c = head->config();
  core::Metadata metadata{{"format", "fluxion-discriminator-1"},
                          {"feature_dim", std::to_string(c.feature_dim)},
                          {"hidden", std::to_string(c.hidden)},
                          {"num_classes", std::to_string(c.num_classes)},
                          {"features", features}};
  if (holdout_accuracy >= 0) metadata["holdout_accuracy"] = std::to_string(holdout_accuracy);
  core::save_safetensors(path, models::module_state(*head), metadata);
}

DiscriminatorHead load_discriminator(const std::string& path, std::string* features, double* holdout_accuracy) {
  core::Metadata metadata;
  auto tensors = core::load_safetensors(path, &metadata);
  FLUXION_CHECK(metadata.count("format") && metadata.at("format") == "fluxion-discriminator-1", path,
                " is not a fluxion discriminator (no format fluxion-discriminator-1 in its metadata)");
  auto number = [&](const char* key) -> int64_t {
    FLUXION_CHECK(metadata.count(key), path, ": discriminator metadata lacks '", key, "'");
    try {
      return std::stoll(metadata.at(key));
    } catch (const std::exception&) {
      fail(path, ": discriminator metadata '", key, "' is not a number");
    }
  };
  DiscriminatorHead head(DiscriminatorConfig{number("feature_dim"), number("hidden"), number("num_classes")});
  models::load_module_state(*head, tensors, path, "the discriminator");
  head->eval();
  if (features) *features = metadata.count("features") ? metadata.at("features") : "";
  if (holdout_accuracy) {
    *holdout_accuracy = -1.0;
    if (metadata.count("holdout_accuracy")) {
      try {
        *holdout_accuracy = std::stod(metadata.at("holdout_accuracy"));
      } catch (const std::exception&) {
        fail(path, ": discriminator metadata 'holdout_accuracy' is not a number");
      }
    }
  }
  return head;
}

}  // namespace fluxion::train
