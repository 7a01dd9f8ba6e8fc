#pragma once
// Exponential moving averages of the model's weights, one per decay (JiT keeps 0.9999 and
// 0.9996). ema = decay * ema + (1 - decay) * weight after every optimizer step, initialised by
// copy as SiT and JiT do. Frozen tensors (pos_embed) are averaged too, which leaves them equal.
#include <torch/torch.h>

#include <string>
#include <vector>

#include "core/safetensors.h"

namespace fluxion::train {

class EmaSet {
 public:
  EmaSet(const std::vector<std::pair<std::string, torch::Tensor>>& weights, std::vector<double> decays);

  void update(const std::vector<std::pair<std::string, torch::Tensor>>& weights);
  const std::vector<double>& decays() const { return decays_; }
  // The averaged weights of decay index i, under the model's names.
  core::TensorMap weights(size_t index) const;
  // Restores decay index i from `tensors` (names must match the model's).
  void load(size_t index, const core::TensorMap& tensors, const std::string& source);

  // "ema" for the first decay, "ema1", "ema2"... for the others: checkpoint key prefixes
  // (objectives::ema_prefix).
  static std::string prefix(size_t index);

 private:
  std::vector<double> decays_;
  std::vector<std::string> names_;
  std::vector<std::vector<torch::Tensor>> averages_;  // [decay][weight]
};

}  // namespace fluxion::train
