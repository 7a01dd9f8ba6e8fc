#include "models/backbone.h"

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

core::TensorMap Backbone::state_dict() const {
  core::TensorMap state;
  for (const auto& item : named_parameters(/*recurse=*/true)) state[item.key()] = item.value();
  for (const auto& item : named_buffers(/*recurse=*/true)) state[item.key()] = item.value();
  return state;
}

void Backbone::load_state(const core::TensorMap& tensors, const std::string& source) {
  auto expected = state_dict();
  std::vector<std::string> missing, unexpected, misshapen;
  for (const auto& [name, tensor] : expected) {
    auto found = tensors.find(name);
    if (found == tensors.end()) {
      missing.push_back(name);
    } else if (found->second.sizes() != tensor.sizes()) {
      misshapen.push_back(concat(name, " ", shape_text(found->second.sizes()), " vs model ",
                                 shape_text(tensor.sizes())));
    }
  }
  for (const auto& item : tensors) {
    if (!expected.count(item.first)) unexpected.push_back(item.first);
  }
  if (!missing.empty() || !unexpected.empty() || !misshapen.empty()) {
    std::string message = concat(source, " does not fit ", family(), " ", config_json(), ":");
    if (!misshapen.empty()) message += concat(" shape mismatch: ", first_few(misshapen), ";");
    if (!missing.empty()) message += concat(" missing: ", first_few(missing), ";");
    if (!unexpected.empty()) message += concat(" unexpected: ", first_few(unexpected), ";");
    message.pop_back();
    fail(message);
  }
  torch::NoGradGuard no_grad;
  for (auto& [name, tensor] : expected) {
    const auto& source_tensor = tensors.at(name);
    FLUXION_CHECK(source_tensor.is_floating_point() == tensor.is_floating_point(), source,
                  ": tensor ", name, " has dtype ", source_tensor.scalar_type(), ", model expects ",
                  tensor.scalar_type());
    tensor.copy_(source_tensor.to(tensor.device(), tensor.scalar_type()));
  }
}

void Backbone::check_input_fits(const torch::Tensor& x) const {
  FLUXION_CHECK(x.dim() == 4 && x.size(1) == in_channels() && x.size(2) == image_size() &&
                    x.size(3) == image_size(),
                family(), ": input of shape ", x.sizes(), " does not fit the model (", in_channels(), "x",
                image_size(), "x", image_size(), ")");
}

int64_t Backbone::parameter_count() const {
  int64_t n = 0;
  for (const auto& p : parameters(/*recurse=*/true)) n += p.numel();
  return n;
}

}  // namespace fluxion::models
