#include "models/module_state.h"

#include <sstream>
#include <vector>

#include "core/error.h"

namespace fluxion::models {

namespace {
std::string shape_text(torch::IntArrayRef sizes) {
  std::ostringstream out;
  out << sizes;
  return out.str();
}

// "a, b, c (+4 more)"
std::string first_few(const std::vector<std::string>& items, size_t limit = 4) {
  std::string text;
  for (size_t i = 0; i < items.size() && i < limit; ++i) text += (i ? ", " : "") + items[i];
  if (items.size() > limit) text += concat(" (+", items.size() - limit, " more)");
  return text;
}
}  // namespace

core::TensorMap module_state(const torch::nn::Module& module) {
  core::TensorMap state;
  for (const auto& item : module.named_parameters(/*recurse=*/true)) state[item.key()] = item.value();
  for (const auto& item : module.named_buffers(/*recurse=*/true)) state[item.key()] = item.value();
  return state;
}

void load_module_state(torch::nn::Module& module, const core::TensorMap& tensors, const std::string& source,
                       const std::string& what) {
  auto expected = module_state(module);
  std::vector<std::string> missing, unexpected, misshapen;
  for (const auto& [name, tensor] : expected) {
    auto found = tensors.find(name);
    if (found == tensors.end()) {
      // Integer buffers (BatchNorm's num_batches_tracked) are bookkeeping, not weights: files
      // converted from other frameworks lack them.
      if (tensor.is_floating_point()) missing.push_back(name);
    } else if (found->second.sizes() != tensor.sizes()) {
      misshapen.push_back(
          concat(name, " ", shape_text(found->second.sizes()), " vs model ", shape_text(tensor.sizes())));
    }
  }
  for (const auto& item : tensors) {
    if (!expected.count(item.first)) unexpected.push_back(item.first);
  }
  if (!missing.empty() || !unexpected.empty() || !misshapen.empty()) {
    std::string message = concat(source, " does not fit ", what, ":");
    if (!misshapen.empty()) message += concat(" shape mismatch: ", first_few(misshapen), ";");
    if (!missing.empty()) message += concat(" missing: ", first_few(missing), ";");
    if (!unexpected.empty()) message += concat(" unexpected: ", first_few(unexpected), ";");
    message.pop_back();
    fail(message);
  }
  torch::NoGradGuard no_grad;
  for (auto& [name, tensor] : expected) {
    auto found = tensors.find(name);
    if (found == tensors.end()) continue;  // an integer buffer, kept as it is
    const auto& source_tensor = found->second;
    FLUXION_CHECK(source_tensor.is_floating_point() == tensor.is_floating_point(), source, ": tensor ", name,
                  " has dtype ", source_tensor.scalar_type(), ", model expects ", tensor.scalar_type());
    tensor.copy_(source_tensor.to(tensor.device(), tensor.scalar_type()));
  }
}

}  // namespace fluxion::models
