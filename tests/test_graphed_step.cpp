// train/graphed_step.h: the training step replayed from a CUDA graph gives the eager step's
// weights, EMAs, moments and step figures to the bit; off the GPU it is the trainer's eager step.
// The reference is the eager step as the trainer ran it before graphs (objective->loss inside
// TrainStep::backward, then apply at lr).
#include <catch2/catch.hpp>

#include <cstdlib>
#include <functional>
#include <limits>
#include <memory>
#include <vector>

#include "core/compat.h"
#include "core/rng.h"
#include "backbone_checks.h"
#include "models/sit.h"
#include "objectives/backbone_model_fn.h"
#include "objectives/flow_objective.h"
#include "test_helpers.h"
#include "train/graphed_step.h"
#include "train/train_step.h"

using namespace fluxion;

namespace {

struct Trainee {
  models::BackbonePtr model;
  std::unique_ptr<train::TrainStep> step;
};

// A small SiT with weights away from the adaLN-Zero identity, two EMAs and clipping.
Trainee make_trainee(const torch::Device& device) {
  Trainee t;
  t.model = test::tiny_sit(16, 5);
  t.model->to(device);
  t.model->train();
  // as the trainer does (training_run.cpp): the objective drops the labels
  dynamic_cast<models::SiT&>(*t.model).y_embedder->dropout_prob = 0.0;
  train::TrainConfig config;
  config.ema_decays = {0.9, 0.99};
  config.grad_clip = 0.5;
  t.step = std::make_unique<train::TrainStep>(*t.model, config);
  return t;
}

// Step s's batch: `rows` images (NaN everywhere when `poisoned`) and labels, on `device`.
std::pair<torch::Tensor, torch::Tensor> batch_of(int64_t s, int64_t rows, const torch::Device& device,
                                                 bool poisoned = false) {
  auto gen = core::make_generator(100 + s);
  auto x = at::rand({rows, 1, 16, 16}, gen) * 2 - 1;
  if (poisoned) x.fill_(std::numeric_limits<float>::quiet_NaN());
  auto y = at::randint(0, 10, {rows}, gen, torch::TensorOptions().dtype(torch::kLong));
  return {x.to(device), y.to(device)};
}

// Deterministic kernels for the guard's lifetime (then the setting as it was).
struct DeterministicAlgorithms {
  bool was = at::globalContext().deterministicAlgorithms();
  bool was_warn_only = at::globalContext().deterministicAlgorithmsWarnOnly();
  DeterministicAlgorithms() {
    ::setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8", 0);  // cuBLAS's condition for deterministic GEMMs
    at::globalContext().setDeterministicAlgorithms(true, false);
  }
  ~DeterministicAlgorithms() { at::globalContext().setDeterministicAlgorithms(was, was_warn_only); }
  DeterministicAlgorithms(const DeterministicAlgorithms&) = delete;
  DeterministicAlgorithms& operator=(const DeterministicAlgorithms&) = delete;
};

// Equal to the bit, NaN where the other is NaN (a non-finite step's loss).
bool same_values(const torch::Tensor& a, const torch::Tensor& b) {
  return a.sizes() == b.sizes() && ((a == b) | (a.isnan() & b.isnan())).all().item<bool>();
}

void require_same_state(const Trainee& a, const Trainee& b) {
  const auto pa = a.model->named_parameters(true), pb = b.model->named_parameters(true);
  for (const auto& p : pa) {
    INFO("parameter " << p.key());
    CHECK(torch::equal(p.value(), pb[p.key()]));
  }
  for (size_t i = 0; i < 2; ++i) {
    const auto ea = a.step->ema().weights(i), eb = b.step->ema().weights(i);
    for (const auto& [name, w] : ea) {
      INFO("EMA " << i << " " << name);
      CHECK(torch::equal(w, eb.at(name)));
    }
  }
  const auto sa = a.step->optimizer().state(), sb = b.step->optimizer().state();
  for (const auto& [name, m] : sa) {
    INFO("optimizer " << name);
    CHECK(torch::equal(m.cpu(), sb.at(name).cpu()));
  }
}

// Runs `steps` steps on both trainees: `reference` as the trainer's eager step, `graphed` through
// a GraphedStep; batches of `rows_at(s)` rows, poisoned at `poisoned_step`. Returns the graph stats.
train::StepGraphStats run_both(Trainee& reference, Trainee& graphed, const torch::Device& device,
                               c10::ScalarType precision, int64_t steps, const std::function<int64_t(int64_t)>& rows_at,
                               int64_t poisoned_step) {
  const objectives::FlowObjective objective(objectives::FlowConfig{}, 10);
  const auto reference_fn = objectives::backbone_model_fn(*reference.model);
  const auto graphed_fn = objectives::backbone_model_fn(*graphed.model);
  train::GraphedStep step(
      *graphed.step,
      [&](const torch::Tensor& x, const objectives::LossDraws& draws) {
        compat::AutocastGuard autocast(device.type(), precision);
        return objective.loss_on_draws(graphed_fn, x, draws);
      },
      /*enabled=*/true);
  for (int64_t s = 0; s < steps; ++s) {
    const double lr = 1e-3 * (1.0 + 0.25 * static_cast<double>(s));  // a schedule: the rate changes every step
    const auto [x, y] = batch_of(s, rows_at(s), device, s == poisoned_step);
    auto gen_a = core::make_generator(700 + s, device), gen_b = core::make_generator(700 + s, device);
    torch::manual_seed(900 + s);  // the trainer's per-step seed of the global generators
    const auto loss = reference.step->backward(
        [&](int64_t) {
          compat::AutocastGuard autocast(device.type(), precision);
          return objective.loss(reference_fn, x, y, gen_a);
        },
        1);
    const auto expected = reference.step->apply(loss, lr);
    torch::manual_seed(900 + s);
    const auto got = step.run(x, objective.draws(x, y, gen_b, x.size(0), 0), lr);
    INFO("step " << s);
    CHECK(same_values(got.loss, expected.loss));
    CHECK(same_values(got.grad_norm, expected.grad_norm));
    CHECK(torch::equal(got.finite, expected.finite));
    CHECK(got.finite.item<bool>() == (s != poisoned_step));
  }
  return step.stats();
}

}  // namespace

TEST_CASE("off the GPU a graphed training step is the trainer's eager step", "[unit][train]") {
  auto reference = make_trainee(torch::kCPU), graphed = make_trainee(torch::kCPU);
  const auto stats = run_both(
      reference, graphed, torch::kCPU, torch::kFloat, 4, [](int64_t) { return 8; }, /*poisoned_step=*/2);
  CHECK(stats.eager_steps == 4);
  CHECK(stats.captures == 0);
  CHECK(stats.replays == 0);
  require_same_state(reference, graphed);
  CHECK(graphed.step->optimizer().steps() == 3);  // the poisoned step was skipped
}

TEST_CASE("training steps replayed from a CUDA graph give the eager weights to the bit", "[cuda][train]") {
  if (!torch::cuda::is_available()) test::skip_test("CUDA not available");
  if (!train::step_graphs_available()) test::skip_test("this LibTorch cannot capture training steps");
  const torch::Device cuda(torch::kCUDA, 0);
  // In float32 SDPA takes the memory-efficient kernel, whose backward adds with atomics: two eager
  // runs differ in the last bit. Its deterministic variant makes "to the bit" a fair question.
  DeterministicAlgorithms deterministic;
  for (const auto precision : {torch::kFloat, torch::kBFloat16}) {
    INFO("precision " << c10::toString(precision));
    auto reference = make_trainee(cuda), graphed = make_trainee(cuda);
    // two eager warm-up steps, the capture at step 2, a non-finite step replayed at 4, a batch of
    // another shape at step 6 (eager), replays again after it
    const auto stats = run_both(
        reference, graphed, cuda, precision, 9, [](int64_t s) { return s == 6 ? 4 : 8; }, /*poisoned_step=*/4);
    CHECK(!stats.capture_failed);
    CHECK(stats.captures == 1);
    CHECK(stats.eager_steps == 3);
    CHECK(stats.replays == 6);
    require_same_state(reference, graphed);
    CHECK(graphed.step->optimizer().steps() == 8);
  }
}
