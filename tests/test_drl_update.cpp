// DRL's policy updates (train/drl_update.h) and rollouts (train/drl_rollout.h) on a 1-D toy flow
// whose KL-regularised optimum is known in closed form:
//   base data N(0, 1): on the linear path x_s = s x1 + (1 - s) eps the exact velocity is
//     v_base(x, s) = (2s - 1) / (s^2 + (1 - s)^2) x;
//   reward r(x) = lambda x - kappa x^2 / 2, beta: p* ∝ N(0, 1) exp(r / beta) = N(mu*, var*) with
//     var* = 1 / (1 + kappa / beta), mu* = var* lambda / beta.
// The policy adds a per-step affine correction a_k x + b_k to v_base, which can represent the
// optimum's velocity (the velocity of any Gaussian on this path is affine in x).
#include <catch2/catch.hpp>

#include <cmath>

#include "core/rng.h"
#include "test_helpers.h"
#include "train/drl_update.h"

using namespace fluxion;

namespace {
constexpr double kLambda = 1.0, kKappa = 1.0, kBeta = 1.0;
constexpr double kVarStar = 1.0 / (1.0 + kKappa / kBeta), kMuStar = kVarStar * kLambda / kBeta;

torch::Tensor base_velocity(const torch::Tensor& x, const torch::Tensor& s) {
  auto t = s.view({-1, 1});
  return (2 * t - 1) / (t * t + (1 - t) * (1 - t)) * x;
}

struct ToyPolicy : torch::nn::Module {
  explicit ToyPolicy(int64_t steps) : steps(steps) {
    a = register_parameter("a", torch::zeros({steps}));
    b = register_parameter("b", torch::zeros({steps}));
  }
  torch::Tensor velocity(const torch::Tensor& x, const torch::Tensor& s) {
    auto k = (s * steps).round().to(torch::kLong).clamp(0, steps - 1);  // (B) grid index
    return base_velocity(x, s) + a.index_select(0, k).view({-1, 1}) * x + b.index_select(0, k).view({-1, 1});
  }
  int64_t steps;
  torch::Tensor a, b;
};

torch::Tensor toy_reward(const torch::Tensor& x) {
  auto v = x.flatten(1).select(1, 0);
  return kLambda * v - kKappa * v * v / 2;
}

train::VelocityFn as_fn(ToyPolicy& p) {
  return [&p](const torch::Tensor& x, const torch::Tensor& s, const torch::Tensor&) { return p.velocity(x, s); };
}
const train::VelocityFn kBase = [](const torch::Tensor& x, const torch::Tensor& s, const torch::Tensor&) {
  return base_velocity(x, s);
};

// Mean and variance of the policy's samples: memoryless SDE rollouts (what both updates
// optimise) and ODE rollouts (how `fluxion sample` draws from a finetuned flow).
std::pair<double, double> moments(ToyPolicy& p, bool sde, uint64_t seed) {
  auto gen = core::make_generator(seed);
  const int64_t n = 40000;
  train::RolloutOptions o;
  o.steps = p.steps;
  o.noise_level = std::sqrt(2.0);
  if (!sde) {
    // ODE: an SDE window of zero width is not allowed; integrate by hand with Euler steps
    torch::NoGradGuard no_grad;
    auto x = core::randn({n, 1}, gen);
    for (int64_t k = 0; k < p.steps; ++k) {
      const double s = train::grid_time(k, p.steps);
      x = x + p.velocity(x, torch::full({n}, s)) / static_cast<double>(p.steps);
    }
    return {x.mean().item<double>(), x.var().item<double>()};
  }
  auto traj = train::rollout(as_fn(p), torch::zeros({n}, torch::kLong), core::randn({n, 1}, gen), gen, o);
  return {traj.sample().mean().item<double>(), traj.sample().var().item<double>()};
}
}  // namespace

TEST_CASE("reward-grad finetunes a 1-D flow to the closed-form optimum p_base exp(r / beta)", "[unit][drl]") {
  torch::manual_seed(0);
  ToyPolicy policy(32);
  torch::optim::Adam adam(policy.parameters(), torch::optim::AdamOptions(0.05));
  train::RolloutOptions o;
  o.steps = policy.steps;
  o.noise_level = std::sqrt(2.0);  // memoryless: the optimum is the tilted base
  const auto reward = [](const torch::Tensor& x, const torch::Tensor&) { return toy_reward(x); };
  for (int it = 0; it < 300; ++it) {
    auto gen = core::make_generator(1000 + it);
    auto z = core::randn({1024, 1}, gen);
    auto loss =
        train::reward_gradient_loss(as_fn(policy), kBase, reward, torch::zeros({1024}, torch::kLong), z, gen, o, kBeta);
    adam.zero_grad();
    loss.backward();
    adam.step();
  }
  ToyPolicy base(policy.steps);
  const auto [base_mean, base_var] = moments(base, true, 5);
  INFO("base chain: mean " << base_mean << ", var " << base_var);
  const auto [sde_mean, sde_var] = moments(policy, true, 6);
  const auto [ode_mean, ode_var] = moments(policy, false, 7);
  INFO("finetuned SDE: " << sde_mean << ", " << sde_var << "; ODE: " << ode_mean << ", " << ode_var << "; target "
                         << kMuStar << ", " << kVarStar);
  // Tolerance 0.04: the 32-step discretisation (the base chain's variance itself ends ~1% off 1,
  // the finetuned one ~3% off; with 16 steps 6%) and the Monte Carlo error of 40,000 samples.
  CHECK(std::abs(base_mean) < 0.02);
  CHECK(std::abs(base_var - 1.0) < 0.03);
  CHECK(std::abs(sde_mean - kMuStar) < 0.04);
  CHECK(std::abs(sde_var - kVarStar) < 0.04);
  CHECK(std::abs(ode_mean - kMuStar) < 0.04);
  CHECK(std::abs(ode_var - kVarStar) < 0.04);
}

namespace {
ToyPolicy finetune_with_grpo(bool kl_to_go) {
  torch::manual_seed(0);
  ToyPolicy policy(16);
  torch::optim::Adam adam(policy.parameters(), torch::optim::AdamOptions(0.05));
  train::RolloutOptions o;
  o.steps = policy.steps;
  o.noise_level = std::sqrt(2.0);
  train::GrpoOptions g;
  g.beta = kBeta;
  g.clip_range = 1e9;  // one on-policy update per rollout: the clip would not bind anyway
  for (int it = 0; it < 200; ++it) {
    auto gen = core::make_generator(2000 + it);
    const int64_t n = 2048;
    auto traj =
        train::rollout(as_fn(policy), torch::zeros({n}, torch::kLong), core::randn({n, 1}, gen), gen, o, &kBase);
    auto r = toy_reward(traj.sample());
    // a baseline and no std normalisation, so that beta keeps its meaning
    auto advantages = kl_to_go ? train::kl_penalised_returns(r, traj, kBeta) : r.unsqueeze(1);  // (n, steps | 1)
    advantages = advantages - advantages.mean(0);
    if (!kl_to_go) advantages = advantages.squeeze(1);
    adam.zero_grad();
    train::grpo_backward(as_fn(policy), kBase, traj, advantages, o, g);
    adam.step();
  }
  return policy;
}
}  // namespace

TEST_CASE("grpo with the KL-to-go reaches the closed-form optimum, Flow-GRPO's plain KL term does not", "[unit][drl]") {
  auto exact = finetune_with_grpo(true);
  const auto [sde_mean, sde_var] = moments(exact, true, 8);
  const auto [ode_mean, ode_var] = moments(exact, false, 9);
  INFO("finetuned SDE: " << sde_mean << ", " << sde_var << "; ODE: " << ode_mean << ", " << ode_var << "; target "
                         << kMuStar << ", " << kVarStar);
  // 16 steps: the discretisation puts the variance ~6% high (the same as reward-grad at 16 steps)
  CHECK(std::abs(sde_mean - kMuStar) < 0.06);
  CHECK(std::abs(sde_var - kVarStar) < 0.06);
  CHECK(std::abs(ode_mean - kMuStar) < 0.06);
  CHECK(std::abs(ode_var - kVarStar) < 0.06);
  // Without the KL's score-function part the fixed point is another one (mean ~0.43)
  auto plain = finetune_with_grpo(false);
  const auto [plain_mean, plain_var] = moments(plain, true, 8);
  INFO("plain KL term: " << plain_mean << ", " << plain_var);
  CHECK(kMuStar - plain_mean > 0.05);
}

TEST_CASE("the reward-grad loss's gradient matches finite differences", "[unit][drl]") {
  torch::manual_seed(3);
  ToyPolicy policy(6);
  {
    torch::NoGradGuard no_grad;
    policy.a.uniform_(-0.3, 0.3);
    policy.b.uniform_(-0.3, 0.3);
  }
  train::RolloutOptions o;
  o.steps = policy.steps;
  o.noise_level = 0.9;
  // a reward that is not quadratic, so central differences are not exact by construction
  const auto reward = [](const torch::Tensor& x, const torch::Tensor&) {
    auto v = x.flatten(1).select(1, 0);
    return torch::sin(2 * v) + 0.3 * v;
  };
  auto loss_at = [&] {
    auto gen = core::make_generator(11);
    auto z = core::randn({64, 1}, gen, torch::kDouble).to(torch::kFloat);
    return train::reward_gradient_loss(as_fn(policy), kBase, reward, torch::zeros({64}, torch::kLong), z, gen, o, 0.7);
  };
  auto loss = loss_at();
  loss.backward();
  const auto grad_a = policy.a.grad().clone(), grad_b = policy.b.grad().clone();
  const double h = 1e-2;
  for (auto* which : {&policy.a, &policy.b}) {
    const auto& analytic = which == &policy.a ? grad_a : grad_b;
    for (int64_t k = 0; k < policy.steps; ++k) {
      torch::NoGradGuard no_grad;
      const double saved = (*which)[k].item<double>();
      (*which)[k].fill_(saved + h);
      const double up = loss_at().item<double>();
      (*which)[k].fill_(saved - h);
      const double down = loss_at().item<double>();
      (*which)[k].fill_(saved);
      const double numeric = (up - down) / (2 * h);
      INFO((which == &policy.a ? "a" : "b")
           << "[" << k << "]: analytic " << analytic[k].item<double>() << ", numeric " << numeric);
      CHECK(analytic[k].item<double>() == Approx(numeric).margin(2e-3).epsilon(2e-2));
    }
  }
}

TEST_CASE("the KL term is zero at theta = base and its gradient vanishes there", "[unit][drl]") {
  ToyPolicy policy(8);  // a = b = 0: the policy is the base
  train::RolloutOptions o;
  o.steps = policy.steps;
  auto gen = core::make_generator(4);
  auto traj =
      train::rollout(as_fn(policy), torch::zeros({32}, torch::kLong), core::randn({32, 1}, gen), gen, o, &kBase);
  CHECK(traj.step_kls.abs().max().item<double>() == 0.0);
  // grpo with zero advantages: only the KL term is left, and its gradient at the base is zero
  train::GrpoOptions g;
  g.beta = 1.0;
  const auto stats = train::grpo_backward(as_fn(policy), kBase, traj, torch::zeros({32}), o, g);
  CHECK(stats.kl == 0.0);
  CHECK(policy.a.grad().abs().max().item<double>() == 0.0);
  CHECK(policy.b.grad().abs().max().item<double>() == 0.0);
  // reward-grad with a zero reward: the loss is the KL, zero at the base, with a zero gradient
  policy.zero_grad();
  train::UpdateStats rg;
  auto loss = train::reward_gradient_loss(
      as_fn(policy), kBase, [](const torch::Tensor& x, const torch::Tensor&) { return x.flatten(1).sum(1) * 0; },
      torch::zeros({32}, torch::kLong), core::randn({32, 1}, gen), gen, o, 1.0, &rg);
  loss.backward();
  CHECK(rg.kl == 0.0);
  CHECK(loss.item<double>() == 0.0);
  CHECK(policy.a.grad().abs().max().item<double>() == 0.0);
  // and a policy off the base has a positive KL
  {
    torch::NoGradGuard no_grad;
    policy.b.fill_(0.5);
  }
  auto off = train::rollout(as_fn(policy), torch::zeros({32}, torch::kLong), core::randn({32, 1}, gen), gen, o, &kBase);
  CHECK(off.step_kls.min().item<double>() > 0.0);
}

TEST_CASE("rollouts record the log-probabilities of their stochastic steps, and ODE steps outside the window",
          "[unit][drl]") {
  ToyPolicy policy(10);
  train::RolloutOptions o;
  o.steps = 10;
  o.noise_level = 0.7;
  o.sde_window = 3;
  o.window_begin = 2;
  auto gen = core::make_generator(5);
  auto z = core::randn({16, 1, 2, 2}, gen);
  auto flat_policy = [&](const torch::Tensor& x, const torch::Tensor& s, const torch::Tensor&) {
    return policy.velocity(x.flatten(1), s).view_as(x);
  };
  auto traj = train::rollout(flat_policy, torch::zeros({16}, torch::kLong), z, gen, o);
  REQUIRE(traj.sde_steps == std::vector<int64_t>{2, 3, 4});
  REQUIRE(traj.log_probs.sizes() == torch::IntArrayRef({16, 3}));
  REQUIRE(traj.states.size() == 11);
  for (int64_t j = 0; j < 3; ++j) {
    const int64_t k = traj.sde_steps[j];
    const auto& x = traj.states[k];
    auto step = train::grid_sde_step(x, flat_policy(x, torch::full({16}, train::grid_time(k, 10)), {}), k, o);
    CHECK(test::max_abs_diff(train::sde_log_prob(traj.states[k + 1], step), traj.log_probs.select(1, j)) < 1e-5);
  }
  // step 6 is an Euler step
  const auto& x6 = traj.states[6];
  CHECK(test::max_abs_diff(traj.states[7], x6 + flat_policy(x6, torch::full({16}, 0.6), {}) * 0.1) < 1e-6);
  // the window start lies in Flow-GRPO's range [0, K/2 - W]
  for (uint64_t seed = 0; seed < 20; ++seed) {
    auto g = core::make_generator(seed);
    const auto begin = train::draw_window_begin(o, g);
    CHECK((begin >= 0 && begin <= 2));
  }
  // group labels: group-major, cycling the classes; the null label for unconditional models
  CHECK(torch::equal(train::group_labels(3, 2, 2), torch::tensor({0, 0, 1, 1, 0, 0}, torch::kLong)));
  CHECK(torch::equal(train::group_labels(2, 2, 0), torch::tensor({0, 0, 0, 0}, torch::kLong)));
}

TEST_CASE("KL-penalised returns take host rewards to the GPU trajectory's device", "[cuda]") {
  if (!torch::cuda::is_available()) test::skip_test("CUDA not available");
  train::Trajectory trajectory;
  trajectory.step_kls = torch::tensor({{0.5, 0.25}, {1.0, 0.0}}, torch::kDouble);
  const auto rewards = torch::tensor({2.0, -1.0}, torch::kDouble);  // on the CPU, as the finetuner has them
  const auto on_cpu = train::kl_penalised_returns(rewards, trajectory, 2.0);
  trajectory.step_kls = trajectory.step_kls.cuda();
  const auto on_gpu = train::kl_penalised_returns(rewards, trajectory, 2.0);
  CHECK(on_gpu.is_cuda());
  CHECK(test::max_abs_diff(on_gpu.cpu(), on_cpu) < 1e-12);
  // the step after k carries the KL of the later steps: [2 - 2 * 0.25, 2], [-1 - 2 * 0, -1]
  CHECK(test::max_abs_diff(on_cpu, torch::tensor({{1.5, 2.0}, {-1.0, -1.0}}, torch::kDouble)) < 1e-12);
}
