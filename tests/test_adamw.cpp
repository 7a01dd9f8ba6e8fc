#include <catch2/catch.hpp>

#include <cmath>
#include <memory>

#include "train/adamw.h"
#include "train/ema.h"
#include "train/lr_schedule.h"
#include "test_helpers.h"

using namespace fluxion;

TEST_CASE("AdamW's first steps move by lr * g / (|g| + eps) and decay decoupled", "[unit][adamw]") {
  auto p = torch::tensor({1.0, -2.0}, torch::kDouble).requires_grad_(true);
  train::AdamW opt({{"p", p}}, {0.1, 0.9, 0.999, 1e-8, 0.5});
  const double g[2] = {2.0, -0.5};
  double expected[2] = {1.0, -2.0};
  for (int step = 0; step < 3; ++step) {
    p.mutable_grad() = torch::tensor({g[0], g[1]}, torch::kDouble);
    opt.step(0.1);
    // With a constant gradient the bias-corrected moments are exactly g and g^2.
    for (int i = 0; i < 2; ++i) {
      expected[i] *= 1.0 - 0.1 * 0.5;
      const double denom = std::sqrt(g[i] * g[i]) + 1e-8;
      expected[i] -= 0.1 * g[i] / denom;
    }
    CHECK(p[0].item<double>() == Approx(expected[0]).epsilon(1e-12));
    CHECK(p[1].item<double>() == Approx(expected[1]).epsilon(1e-12));
  }
  CHECK(opt.steps() == 3);
}

TEST_CASE("AdamW state round-trips so that a restored optimizer continues identically", "[unit][adamw]") {
  auto make = [] { return torch::tensor({0.3, 0.7, -1.1}).requires_grad_(true); };
  auto a = make(), b = make();
  train::AdamW opt_a({{"w", a}}, {});
  for (int i = 0; i < 4; ++i) {
    a.mutable_grad() = torch::sin(a.detach() * (i + 1));
    opt_a.step(1e-2);
  }
  train::AdamW opt_b({{"w", b}}, {});
  {
    torch::NoGradGuard guard;
    b.copy_(a);
  }
  opt_b.load_state(opt_a.state(), "test");
  a.mutable_grad() = torch::cos(a.detach());
  b.mutable_grad() = torch::cos(b.detach());
  opt_a.step(1e-2);
  opt_b.step(1e-2);
  CHECK(torch::equal(a, b));
  CHECK_THROWS_WITH(opt_b.load_state({}, "ckpt.safetensors"),
                    Catch::Contains("ckpt.safetensors") && Catch::Contains("exp_avg.w"));
}

TEST_CASE("gradient clipping scales the global norm to the bound", "[unit][adamw]") {
  auto a = torch::zeros({2}).requires_grad_(true);
  auto b = torch::zeros({1}).requires_grad_(true);
  a.mutable_grad() = torch::tensor({3.0f, 0.0f});
  b.mutable_grad() = torch::tensor({4.0f});
  CHECK(train::clip_grad_norm({a, b}, 1.0) == Approx(5.0));
  CHECK(a.grad()[0].item<float>() == Approx(0.6).epsilon(1e-5));
  CHECK(b.grad()[0].item<float>() == Approx(0.8).epsilon(1e-5));
  CHECK(train::clip_grad_norm({a, b}, 0.0) == Approx(1.0).epsilon(1e-5));  // 0: measure only
}

TEST_CASE("EMA follows ema = d ema + (1 - d) w for every decay", "[unit][ema]") {
  auto w = torch::tensor({0.0});
  train::EmaSet ema({{"w", w}}, {0.9, 0.5});
  w.fill_(1.0);
  ema.update({{"w", w}});
  ema.update({{"w", w}});
  CHECK(ema.weights(0).at("w").item<float>() == Approx(1 - 0.81));
  CHECK(ema.weights(1).at("w").item<float>() == Approx(1 - 0.25));
  CHECK(train::EmaSet::prefix(0) == "ema");
  CHECK(train::EmaSet::prefix(1) == "ema1");
  CHECK_THROWS(train::EmaSet({{"w", w}}, {1.5}));
}

TEST_CASE("learning-rate warmup, constant and cosine shapes", "[unit][lr]") {
  train::LrSchedule constant{1e-3, 10, "constant", 100, 0.0};
  CHECK(constant.at(0) == Approx(1e-4));
  CHECK(constant.at(9) == Approx(1e-3));
  CHECK(constant.at(50) == Approx(1e-3));
  train::LrSchedule cosine{1.0, 0, "cosine", 100, 0.1};
  CHECK(cosine.at(0) == Approx(1.0));
  CHECK(cosine.at(50) == Approx(0.55));
  CHECK(cosine.at(100) == Approx(0.1));
  CHECK(cosine.at(1000) == Approx(0.1));
  train::LrSchedule bad{1.0, 0, "exponential", 10, 0.0};
  CHECK_THROWS_WITH(bad.validate(), Catch::Contains("exponential"));
}

TEST_CASE("AdamW on CUDA (fused multi-tensor kernel) follows the CPU loop", "[cuda][adamw]") {
  if (!torch::cuda::is_available()) {
    WARN("CUDA not available; skipping");
    return;
  }
  // Varying gradients, weight decay and a resumed optimizer: the fused kernel's step counts
  // and moments must track the per-parameter loop on the CPU.
  torch::manual_seed(3);
  auto w_cpu = torch::randn({33, 17}).requires_grad_(true), b_cpu = torch::randn({17}).requires_grad_(true);
  auto w_gpu = w_cpu.detach().cuda().requires_grad_(true), b_gpu = b_cpu.detach().cuda().requires_grad_(true);
  const train::AdamWConfig config{1e-2, 0.9, 0.95, 1e-8, 0.05};
  train::AdamW cpu({{"w", w_cpu}, {"b", b_cpu}}, config);
  auto gpu = std::make_unique<train::AdamW>(std::vector<std::pair<std::string, torch::Tensor>>{{"w", w_gpu}, {"b", b_gpu}}, config);
  for (int step = 0; step < 8; ++step) {
    auto gw = torch::randn({33, 17}) * (step + 1), gb = torch::randn({17});
    w_cpu.mutable_grad() = gw;
    b_cpu.mutable_grad() = gb;
    w_gpu.mutable_grad() = gw.cuda();
    b_gpu.mutable_grad() = gb.cuda();
    cpu.step(1e-2);
    gpu->step(1e-2);
    if (step == 3) {  // a fresh optimizer restored from the state continues the same
      auto state = gpu->state();
      gpu = std::make_unique<train::AdamW>(std::vector<std::pair<std::string, torch::Tensor>>{{"w", w_gpu}, {"b", b_gpu}}, config);
      gpu->load_state(state, "gpu state");
    }
  }
  CHECK(gpu->steps() == 8);
  CHECK(test::max_abs_diff(w_gpu.detach().cpu(), w_cpu.detach()) < 1e-5);
  CHECK(test::max_abs_diff(b_gpu.detach().cpu(), b_cpu.detach()) < 1e-5);
  CHECK(test::max_abs_diff(gpu->state().at("exp_avg_sq.w").cpu(), cpu.state().at("exp_avg_sq.w")) <
        1e-5 * cpu.state().at("exp_avg_sq.w").abs().max().item<double>());
}
