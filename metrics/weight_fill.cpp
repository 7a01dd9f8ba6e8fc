#include "metrics/weight_fill.h"

#include <cmath>

namespace fluxion::metrics {

namespace {
bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// SplitMix64 of (seed + i * golden ratio), mapped to a double in [0, 1).
double uniform_at(uint64_t seed, uint64_t i) {
  uint64_t z = seed + i * 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  z = z ^ (z >> 31);
  return static_cast<double>(z >> 11) * 0x1.0p-53;
}
}  // namespace

uint64_t fnv1a_64(const std::string& text) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char byte : text) h = (h ^ byte) * 0x100000001b3ULL;
  return h;
}

torch::Tensor fill_tensor(const std::string& name, at::IntArrayRef shape, double gain) {
  auto out = torch::empty(shape, torch::kFloat);
  const int64_t n = out.numel();
  float* data = out.data_ptr<float>();
  const uint64_t seed = fnv1a_64(name);
  if (shape.size() >= 2) {
    const double fan_in = static_cast<double>(n) / static_cast<double>(shape[0]);
    const double denom = std::sqrt(fan_in);
    for (int64_t i = 0; i < n; ++i) {
      const double u = uniform_at(seed, static_cast<uint64_t>(i));
      data[i] = static_cast<float>(((2.0 * u - 1.0) * std::sqrt(3.0)) * gain / denom);
    }
    return out;
  }
  for (int64_t i = 0; i < n; ++i) {
    const double u = uniform_at(seed, static_cast<uint64_t>(i));
    double value;
    if (ends_with(name, "running_var"))
      value = 1.0 + 0.5 * u;
    else if (ends_with(name, "running_mean"))
      value = 0.1 * (2.0 * u - 1.0);
    else if (ends_with(name, "weight") || ends_with(name, "gamma") || ends_with(name, "lambda1"))
      value = 1.0 + 0.1 * (2.0 * u - 1.0);
    else
      value = 0.05 * (2.0 * u - 1.0);
    data[i] = static_cast<float>(value);
  }
  return out;
}

std::map<std::string, torch::Tensor> fill_state_dict(const NamedShapes& names_and_shapes, double gain) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& [name, shape] : names_and_shapes) out[name] = fill_tensor(name, shape, gain);
  return out;
}

void fill_module(torch::nn::Module& module, double gain) {
  torch::NoGradGuard no_grad;
  auto fill = [&](const std::string& name, torch::Tensor& t) {
    if (!t.defined() || !t.is_floating_point()) return;
    t.copy_(fill_tensor(name, t.sizes(), gain));
  };
  for (auto& item : module.named_parameters(/*recurse=*/true)) fill(item.key(), item.value());
  for (auto& item : module.named_buffers(/*recurse=*/true)) fill(item.key(), item.value());
}

}  // namespace fluxion::metrics
