#pragma once
// Shared by the kernel emulation tests: a whole backbone whose blocks run through the emulated
// kernels against the same backbone in float64, which the kernels do not take (the unfused path).
#include <memory>
#include <string>
#include <vector>

#include "emulated_cuda.h"
#include "kernel_checks.h"
#include "models/backbone.h"
#include "models/sit.h"

namespace fluxion::kernel_checks {

// A 2-block SiT on 8 x 8 x 2 inputs (16 tokens, width 48, 3 heads).
inline models::SiTConfig tiny_sit_config() {
  models::SiTConfig config;
  config.input_size = 8;
  config.patch_size = 2;
  config.in_channels = 2;
  config.hidden_size = 48;
  config.depth = 2;
  config.num_heads = 3;
  config.num_classes = 5;
  return config;
}

inline void randomize(torch::nn::Module& model, uint64_t seed) {  // adaLN-Zero starts with zero gates
  torch::manual_seed(seed);
  torch::NoGradGuard no_grad;
  for (auto& p : model.parameters()) p.copy_(torch::randn_like(p) * 0.2);
}

// output and every trained parameter's gradient of model(x, t, y).square().mean(), in float64
inline std::vector<torch::Tensor> run_model(models::Backbone& model, const torch::Tensor& x, const torch::Tensor& t,
                                            const torch::Tensor& y) {
  model.zero_grad();
  auto out = model.forward(x, t, y);
  out.to(torch::kDouble).square().mean().backward();
  std::vector<torch::Tensor> result = {out.detach().to(torch::kDouble)};
  for (const auto& item : model.named_parameters()) {
    if (!item.value().requires_grad()) continue;  // the fixed position table
    INFO("parameter " << item.key());
    REQUIRE(item.value().grad().defined());
    result.push_back(item.value().grad().to(torch::kDouble));
  }
  return result;
}

// Model(config) on x (float32, through the kernels) against its float64 twin: output and gradients.
template <typename Model, typename Config>
void check_against_float64(const Config& config, const torch::Tensor& x) {
  auto fused = std::make_shared<Model>(config);
  auto reference = std::make_shared<Model>(config);
  randomize(*fused, 3);
  randomize(*reference, 3);
  reference->to(torch::kDouble);
  fused->eval();  // no random label dropout
  reference->eval();
  const auto t = torch::tensor({0.3, 0.8});
  const auto y = torch::tensor({1, 4}, torch::kLong);
  const int64_t before = kernel_emulation::launch_count();
  const auto got = run_model(*fused, x, t.to(torch::kFloat), y);
  CHECK(kernel_emulation::launch_count() > before);  // the blocks went through the kernels
  const auto want = run_model(*reference, x.to(torch::kDouble), t, y);
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    INFO((i == 0 ? "output" : "gradient of parameter " + std::to_string(i - 1)));
    CHECK(close(got[i], want[i], 2e-4));
  }
}

}  // namespace fluxion::kernel_checks
