// objectives/backbone_model_fn.h: a backbone as the samplers' ModelFn gives the backbone's own
// output in float32, also when autocast computes the network in bf16, and keeps a shared model alive.
#include <catch2/catch.hpp>

#include "core/compat.h"
#include "backbone_checks.h"
#include "objectives/backbone_model_fn.h"
#include "test_helpers.h"

using namespace fluxion;

TEST_CASE("a backbone as a ModelFn returns its own output in float32", "[unit][objectives]") {
  models::BackbonePtr model = test::tiny_sit(16, 11);
  model->eval();
  torch::NoGradGuard no_grad;
  const auto x = torch::randn({3, 1, 16, 16});
  const auto t = torch::tensor({0.1f, 0.5f, 0.9f});
  const auto y = torch::tensor({0L, 4L, 10L});  // 10: the null class
  const auto expected = model->forward(x, t, y);

  auto by_reference = objectives::backbone_model_fn(*model);
  CHECK(torch::equal(by_reference(x, t, y), expected));

  std::weak_ptr<models::Backbone> watch = model;
  auto shared = objectives::backbone_model_fn(std::move(model));
  CHECK(!watch.expired());  // the function owns the model now
  CHECK(torch::equal(shared(x, t, y), expected));

  compat::AutocastGuard autocast(c10::DeviceType::CPU, torch::kBFloat16);
  const auto low = shared(x, t, y);
  CHECK(low.scalar_type() == torch::kFloat);  // the solvers' arithmetic stays float32
  CHECK(test::max_abs_diff(low, expected) < 0.05 * expected.abs().max().item<double>());
  CHECK(!torch::equal(low, expected));  // bf16 did compute it
}
