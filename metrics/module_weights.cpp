#include "metrics/module_weights.h"

#include <set>

#include "core/error.h"

namespace fluxion::metrics {

void load_module_weights(torch::nn::Module& module, const core::TensorMap& weights,
                         const std::string& source, bool strict) {
  torch::NoGradGuard no_grad;
  std::set<std::string> used;
  auto assign = [&](const std::string& name, torch::Tensor& target) {
    auto it = weights.find(name);
    if (it == weights.end()) {
      FLUXION_CHECK(!target.is_floating_point(), "weights ", source, ": tensor '", name,
                    "' is missing");
      return;
    }
    FLUXION_CHECK(it->second.sizes() == target.sizes(), "weights ", source, ": tensor '", name,
                  "' has shape ", it->second.sizes(), ", expected ", target.sizes());
    target.copy_(it->second.to(target.device(), target.scalar_type()));
    used.insert(name);
  };
  for (auto& item : module.named_parameters(true)) assign(item.key(), item.value());
  for (auto& item : module.named_buffers(true)) assign(item.key(), item.value());
  if (!strict) return;
  for (const auto& [name, tensor] : weights) {
    FLUXION_CHECK(used.count(name), "weights ", source, ": unexpected tensor '", name, "'");
  }
}

}  // namespace fluxion::metrics
