#include "train/ema.h"

#include "core/compat.h"
#include "core/error.h"
#include "objectives/checkpoint.h"

namespace fluxion::train {

EmaSet::EmaSet(const std::vector<std::pair<std::string, torch::Tensor>>& weights, std::vector<double> decays)
    : decays_(std::move(decays)) {
  torch::NoGradGuard no_grad;
  for (const auto& [name, w] : weights) names_.push_back(name);
  for (size_t i = 0; i < decays_.size(); ++i) {
    FLUXION_CHECK(decays_[i] >= 0.0 && decays_[i] < 1.0, "EMA decay must be in [0, 1), got ", decays_[i]);
    std::vector<torch::Tensor> copy;
    for (const auto& [name, w] : weights) copy.push_back(w.detach().clone());
    averages_.push_back(std::move(copy));
  }
}

void EmaSet::update(const std::vector<std::pair<std::string, torch::Tensor>>& weights) {
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < decays_.size(); ++i) {
#if FLUXION_TORCH2
    // One multi-tensor lerp (the same formula as lerp_) instead of a kernel per tensor.
    std::vector<torch::Tensor> averages, targets;
    for (size_t j = 0; j < weights.size(); ++j) {
      auto& avg = averages_[i][j];
      if (avg.is_floating_point()) {
        averages.push_back(avg);
        targets.push_back(weights[j].second.detach());
      } else {
        avg.copy_(weights[j].second);
      }
    }
    if (!averages.empty()) at::_foreach_lerp_(averages, targets, 1.0 - decays_[i]);
#else
    for (size_t j = 0; j < weights.size(); ++j) {
      auto& avg = averages_[i][j];
      if (avg.is_floating_point()) {
        avg.lerp_(weights[j].second.detach(), 1.0 - decays_[i]);
      } else {
        avg.copy_(weights[j].second);
      }
    }
#endif
  }
}

core::TensorMap EmaSet::weights(size_t index) const {
  core::TensorMap out;
  for (size_t j = 0; j < names_.size(); ++j) out[names_[j]] = averages_.at(index)[j];
  return out;
}

void EmaSet::load(size_t index, const core::TensorMap& tensors, const std::string& source) {
  torch::NoGradGuard no_grad;
  for (size_t j = 0; j < names_.size(); ++j) {
    auto it = tensors.find(names_[j]);
    FLUXION_CHECK(it != tensors.end(), source, ": EMA '", prefix(index), "' lacks '", names_[j], "'");
    FLUXION_CHECK(it->second.sizes() == averages_[index][j].sizes(), source, ": EMA tensor '", names_[j],
                  "' has shape ", it->second.sizes(), ", expected ", averages_[index][j].sizes());
    averages_[index][j].copy_(it->second);
  }
}

std::string EmaSet::prefix(size_t index) { return objectives::ema_prefix(index); }

}  // namespace fluxion::train
