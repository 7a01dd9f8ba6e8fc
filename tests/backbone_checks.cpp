#include "backbone_checks.h"

#include <catch2/catch.hpp>

#include "models/zoo.h"

namespace fluxion::test {

void randomize_parameters(torch::nn::Module& model, uint64_t seed, double scale) {
  torch::manual_seed(seed);
  torch::NoGradGuard no_grad;
  for (auto& p : model.parameters()) {
    if (p.requires_grad()) p.copy_(torch::randn_like(p) * scale);
  }
}

models::BackbonePtr tiny_sit(int64_t image_size, uint64_t seed) {
  models::ModelOverrides overrides;
  overrides.image_size = image_size;
  overrides.channels = 1;
  overrides.num_classes = 10;
  auto model = models::build_model(models::zoo_config("SiT-T/4", overrides));
  randomize_parameters(*model, seed, 0.05);
  return model;
}

torch::Tensor check_every_parameter_gets_gradient(models::Backbone& model, const torch::Tensor& x,
                                                  const torch::Tensor& t, const torch::Tensor& y) {
  model.zero_grad();
  auto out = model.forward(x, t, y);
  out.square().mean().backward();
  for (const auto& item : model.named_parameters()) {
    INFO(item.key());
    if (!item.value().requires_grad()) {
      CHECK(item.key() == "pos_embed");
      continue;
    }
    REQUIRE(item.value().grad().defined());
    CHECK(item.value().grad().abs().sum().item<double>() > 0);
  }
  return out;
}

}  // namespace fluxion::test
