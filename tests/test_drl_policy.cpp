// DRL's Flow-GRPO pieces (train/drl_policy.h): the SDE step against closed forms, advantages on
// constructed groups, PPO clipping, the KL term.
#include <catch2/catch.hpp>

#include <cmath>

#include "test_helpers.h"
#include "train/drl_config.h"
#include "train/drl_policy.h"

using namespace fluxion;

TEST_CASE("the SDE step's log-probability is the Gaussian density averaged over dimensions", "[unit]") {
  torch::manual_seed(0);
  auto x = torch::randn({3, 2, 4, 4}), v = torch::randn({3, 2, 4, 4});
  auto step = train::flow_sde_step(x, v, 0.3, 0.4, 0.7, 0.1);
  CHECK(step.sigma == Approx(0.7 * std::sqrt(0.7 / 0.3)));
  CHECK(step.std == Approx(step.sigma * std::sqrt(0.1)));
  auto xi = torch::randn_like(x);
  auto next = step.mean + step.std * xi;
  auto expected = -xi.pow(2).flatten(1).mean(1) / 2 - std::log(step.std) - 0.5 * std::log(2 * M_PI);
  CHECK(test::max_abs_diff(train::sde_log_prob(next, step), expected) < 1e-5);
  // the mean of the step: x (1 - sigma^2 ds / (2 (1 - s))) + v (1 + sigma^2 s / (2 (1 - s))) ds
  const double s2 = step.sigma * step.sigma;
  auto mean = x * (1 - s2 * 0.1 / (2 * 0.7)) + v * (1 + s2 * 0.3 / (2 * 0.7)) * 0.1;
  CHECK(test::max_abs_diff(step.mean, mean) < 1e-6);
  // at s = 0 the noise level is taken at s_floor and the velocity's coefficient is 1
  auto first = train::flow_sde_step(x, v, 0.0, 0.1, 0.7, 0.1);
  CHECK(first.sigma == Approx(0.7 * std::sqrt(0.9 / 0.1)));
  CHECK(test::max_abs_diff(first.mean, x * (1 - first.sigma * first.sigma * 0.1 / 2) + v * 0.1) < 1e-6);
}

TEST_CASE("SDE steps keep the marginals of the flow (Gaussian data, exact velocity)", "[unit]") {
  // data x1 ~ N(0, d^2): x_s = s x1 + (1 - s) eps ~ N(0, s^2 d^2 + (1 - s)^2) and the exact
  // velocity is v(x, s) = x (s d^2 - (1 - s)) / (s^2 d^2 + (1 - s)^2)
  const double d2 = 0.25;
  auto variance = [&](double s) { return s * s * d2 + (1 - s) * (1 - s); };
  auto gen = at::detail::createCPUGenerator(7);
  const double s0 = 0.05, s1 = 0.95;
  const int steps = 400;
  auto x = torch::randn({200000}, gen, torch::kDouble).unsqueeze(1) * std::sqrt(variance(s0));  // (N, 1)
  for (int k = 0; k < steps; ++k) {
    const double s = s0 + (s1 - s0) * k / steps, s_next = s0 + (s1 - s0) * (k + 1) / steps;
    auto v = x * ((s * d2 - (1 - s)) / variance(s));
    auto step = train::flow_sde_step(x, v, s, s_next, 0.7, s0);
    x = step.mean + step.std * torch::randn(x.sizes(), gen, torch::kDouble);
  }
  INFO("variance " << x.var().item<double>() << " vs " << variance(s1));
  CHECK(x.var().item<double>() == Approx(variance(s1)).epsilon(0.02));
  CHECK(std::abs(x.mean().item<double>()) < 0.01);
}

TEST_CASE("advantages: per-class groups, global std, GDPO, clipping", "[unit]") {
  auto rewards = torch::tensor({1.0, 3.0, 10.0, 14.0});
  auto groups = torch::tensor({0, 0, 1, 1}, torch::kLong);
  auto group = train::advantages(rewards, groups, train::AdvantageNorm::group);
  // each group is {mean - 1 std, mean + 1 std}
  CHECK(group[0].item<double>() == Approx(-1.0).epsilon(1e-3));
  CHECK(group[1].item<double>() == Approx(1.0).epsilon(1e-3));
  CHECK(group[2].item<double>() == Approx(-1.0).epsilon(1e-3));
  CHECK(group[3].item<double>() == Approx(1.0).epsilon(1e-3));
  // global std: the batch's std (5.1) divides both groups' deviations
  auto global = train::advantages(rewards, groups, train::AdvantageNorm::global);
  const double batch_std = rewards.std(/*unbiased=*/false).item<double>();
  CHECK(global[3].item<double>() == Approx(2.0 / batch_std).epsilon(1e-3));
  CHECK(torch::equal(train::advantages(rewards, groups, train::AdvantageNorm::none, 100.0), rewards));
  // center: the group's mean is the baseline and nothing is rescaled, so 10x the rewards give 10x
  // the advantages
  auto centred = train::advantages(rewards, groups, train::AdvantageNorm::center, 100.0);
  auto centred10 = train::advantages(rewards * 10, groups, train::AdvantageNorm::center, 100.0);
  for (int64_t i = 0; i < rewards.size(0); ++i) {
    const auto members = rewards.masked_select(groups == groups[i]);
    CHECK(centred[i].item<double>() == Approx(rewards[i].item<double>() - members.mean().item<double>()));
  }
  CHECK(test::max_abs_diff(centred10, centred * 10) < 1e-9);
  // clipping at +-5
  auto spread = train::advantages(torch::tensor({0.0, 0.0, 0.0, 100.0}), torch::zeros({4}, torch::kLong),
                                  train::AdvantageNorm::none, 5.0);
  CHECK(spread[3].item<double>() == 5.0);
  // GDPO normalises each reward on its own: rescaling one reward leaves its advantages alone,
  // while summing first lets the larger scale decide
  auto a = torch::tensor({1.0, 2.0, 3.0, 4.0}), b = torch::tensor({3.0, 0.0, 1.0, 0.0});
  auto same = torch::zeros({4}, torch::kLong);
  auto gdpo = train::advantages(torch::stack({a, b}, 1), same, train::AdvantageNorm::gdpo);
  auto gdpo_scaled = train::advantages(torch::stack({a, b * 1000}, 1), same, train::AdvantageNorm::gdpo);
  CHECK(test::max_abs_diff(gdpo, gdpo_scaled) < 1e-3);
  auto summed = train::advantages(torch::stack({a, b}, 1), same, train::AdvantageNorm::group);
  auto summed_scaled = train::advantages(torch::stack({a, b * 1000}, 1), same, train::AdvantageNorm::group);
  CHECK(test::max_abs_diff(summed, summed_scaled) > 0.5);
  CHECK(gdpo.mean().item<double>() == Approx(0.0).margin(1e-6));
  CHECK_THROWS_WITH(train::parse_advantage_norm("zscore"), Catch::Contains("none | center | group | global | gdpo"));
}

TEST_CASE("PPO clipping stops the gradient beyond the trust region", "[unit]") {
  auto old = torch::zeros({2});
  auto advantage = torch::tensor({1.0, -1.0});
  // inside the region: gradient -A rho / B
  auto inside = torch::tensor({0.0, 0.0}, torch::requires_grad());
  train::ppo_clip_loss(inside, old, advantage, 0.2).backward();
  CHECK(inside.grad()[0].item<double>() == Approx(-0.5));
  CHECK(inside.grad()[1].item<double>() == Approx(0.5));
  // a positive advantage whose ratio is already above 1 + eps gets no push further up; a negative
  // one below 1 - eps none further down
  auto outside = torch::tensor({std::log(1.5), std::log(0.5)}, torch::requires_grad());
  auto loss = train::ppo_clip_loss(outside, old, advantage, 0.2);
  loss.backward();
  CHECK(outside.grad().abs().max().item<double>() == 0.0);
  CHECK(loss.item<double>() == Approx((-1.2 + 0.8) / 2));
}

TEST_CASE("the KL term is zero at the base and quadratic in the mean shift", "[unit]") {
  torch::manual_seed(1);
  auto x = torch::randn({2, 1, 3, 3}), v = torch::randn({2, 1, 3, 3});
  auto base = train::flow_sde_step(x, v, 0.2, 0.3, 0.7, 0.1);
  CHECK(train::step_kl(base, base).item<double>() == 0.0);
  auto shifted = train::flow_sde_step(x, v + 0.5, 0.2, 0.3, 0.7, 0.1);
  // the means differ by 0.5 (1 + sigma^2 s / (2 (1 - s))) ds everywhere
  const double shift = 0.5 * (1 + base.sigma * base.sigma * 0.2 / 1.6) * 0.1;
  CHECK(train::step_kl(shifted, base).item<double>() ==
        Approx(shift * shift / (2 * base.std * base.std)).epsilon(1e-4));
}

TEST_CASE("advantages of rewards on the GPU take their group ids from the host", "[cuda]") {
  if (!torch::cuda::is_available()) test::skip_test("CUDA not available");
  auto rewards = torch::tensor({1.0, 3.0, 10.0, 14.0, 2.0, 7.0});
  auto groups = torch::tensor({0, 0, 1, 1, 2, 2}, torch::kLong);  // on the CPU, as the finetuner passes them
  for (auto norm : {train::AdvantageNorm::none, train::AdvantageNorm::center, train::AdvantageNorm::group,
                    train::AdvantageNorm::global, train::AdvantageNorm::gdpo}) {
    auto on_gpu = train::advantages(rewards.cuda(), groups, norm, 100.0);
    CHECK(on_gpu.is_cuda());
    CHECK(test::max_abs_diff(on_gpu.cpu(), train::advantages(rewards, groups, norm, 100.0)) < 1e-9);
  }
}

TEST_CASE("the advantage clip defaults to 5 for normalised advantages and to none for raw returns", "[unit][drl]") {
  train::FinetuneConfig c;
  c.checkpoint = "base.safetensors";
  for (const char* norm : {"group", "global", "gdpo"}) {
    c.adv_norm = norm;
    CHECK(c.resolved_adv_clip() == 5.0);
  }
  for (const char* norm : {"none", "center"}) {
    c.adv_norm = norm;
    CHECK(std::isinf(c.resolved_adv_clip()));
    // raw logits of 30 (a confident discriminator) keep their size
    const auto a = train::advantages(torch::tensor({30.0, -30.0}), torch::tensor({0, 0}),
                                     train::parse_advantage_norm(norm), c.resolved_adv_clip());
    CHECK(a.abs().max().item<double>() >= 30.0 - 1e-9);
  }
  c.adv_clip = 2.5;  // an explicit clip applies to every normalisation
  CHECK(c.resolved_adv_clip() == 2.5);
  c.adv_clip = 0;
  test::expect_one_line_error([&] { c.validate(); }, {"--adv-clip"});
}
