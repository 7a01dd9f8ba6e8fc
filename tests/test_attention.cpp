#include <catch2/catch.hpp>

#include <chrono>

#include "core/error.h"
#include "models/attention.h"
#include "models/linear_attention.h"
#include "test_helpers.h"

using namespace fluxion;
using models::Attention;
using models::AttentionOptions;

namespace {
AttentionOptions options_for(const std::string& kind, int64_t n, int64_t grid_h, int64_t grid_w) {
  AttentionOptions o;
  o.spec = models::parse_attention(kind);
  o.num_tokens = n;
  o.grid_h = grid_h;
  o.grid_w = grid_w;
  return o;
}

torch::Tensor positive_gate(int64_t heads, int64_t n, torch::ScalarType dtype) {
  return (torch::rand({1, heads, n, 1}, torch::TensorOptions().dtype(dtype)) + 0.5);
}
}  // namespace

TEST_CASE("linear attention equals the naive O(N^2) normalised attention", "[unit][attention]") {
  torch::manual_seed(1);
  const auto f64 = torch::TensorOptions().dtype(torch::kDouble);
  auto q = torch::randn({2, 3, 17, 8}, f64), k = torch::randn({2, 3, 17, 8}, f64), v = torch::randn({2, 3, 17, 8}, f64);
  auto gk = positive_gate(3, 17, torch::kDouble), gv = torch::randn({1, 3, 17, 1}, f64);
  auto fast = models::linear_attention(q, k, v, gk, gv);
  auto naive = models::linear_attention_naive(q, k, v, gk, gv);
  CHECK(fast.scalar_type() == torch::kDouble);
  CHECK(test::max_abs_diff(fast, naive) < 1e-12);
  // Rows of the implied weight matrix sum to (almost) one: constant values pass through.
  auto ones = torch::ones_like(v);
  CHECK(test::max_abs_diff(models::linear_attention(q, k, ones), ones) < 1e-4);
  // float32 inputs compute in float32 and agree with the float64 result.
  auto fast32 = models::linear_attention(q.to(torch::kFloat), k.to(torch::kFloat), v.to(torch::kFloat),
                                         gk.to(torch::kFloat), gv.to(torch::kFloat));
  CHECK(fast32.scalar_type() == torch::kFloat);
  CHECK(test::max_abs_diff(fast32, fast) < 1e-4);
}

TEST_CASE("linear attention passes a float64 finite-difference gradient check", "[unit][attention]") {
  torch::manual_seed(2);
  const auto f64 = torch::TensorOptions().dtype(torch::kDouble);
  std::vector<torch::Tensor> inputs = {torch::randn({1, 2, 6, 4}, f64), torch::randn({1, 2, 6, 4}, f64),
                                       torch::randn({1, 2, 6, 4}, f64), positive_gate(2, 6, torch::kDouble),
                                       torch::randn({1, 2, 6, 1}, f64)};
  auto weights = torch::randn({1, 2, 6, 4}, f64);
  auto loss = [&](const std::vector<torch::Tensor>& in) {
    return (models::linear_attention(in[0], in[1], in[2], in[3], in[4]) * weights).sum();
  };
  for (auto& t : inputs) t.requires_grad_(true);
  auto grads = torch::autograd::grad({loss(inputs)}, inputs);
  const double h = 1e-6;
  torch::NoGradGuard no_grad;
  double worst = 0;
  for (size_t a = 0; a < inputs.size(); ++a) {
    auto flat = inputs[a].detach().clone().flatten();
    for (int64_t i = 0; i < flat.numel(); ++i) {
      auto perturbed = [&](double delta) {
        auto copy = flat.clone();
        copy[i] += delta;
        auto in = inputs;
        in[a] = copy.reshape(inputs[a].sizes());
        return loss(in).item<double>();
      };
      const double numeric = (perturbed(h) - perturbed(-h)) / (2 * h);
      const double analytic = grads[a].flatten()[i].item<double>();
      worst = std::max(worst, std::abs(numeric - analytic) / std::max(1.0, std::abs(numeric)));
    }
  }
  INFO("worst relative gradient error " << worst);
  CHECK(worst < 1e-6);
}

TEST_CASE("linear attention cost is linear: 65536 tokens without an N x N matrix", "[unit][attention]") {
  // An N x N float matrix here would need 16 GiB.
  auto q = torch::randn({1, 1, 65536, 8}), k = torch::randn({1, 1, 65536, 8}), v = torch::randn({1, 1, 65536, 8});
  auto out = models::linear_attention(q, k, v);
  CHECK(out.sizes() == q.sizes());
  CHECK(torch::isfinite(out).all().item<bool>());
}

TEST_CASE("attention module: SDPA and float32-score paths agree and the G1 gate scales each head",
          "[unit][attention]") {
  torch::manual_seed(3);
  Attention softmax(64, 4, options_for("softmax", 16, 4, 4));
  auto fp32_options = options_for("softmax", 16, 4, 4);
  fp32_options.fp32_scores = true;
  Attention explicit_scores(64, 4, fp32_options);
  Attention gated(64, 4, options_for("gated", 16, 4, 4));
  Attention headwise(64, 4, options_for("gated-headwise", 16, 4, 4));
  {
    torch::NoGradGuard no_grad;
    softmax->qkv->bias.copy_(torch::randn({192}));
    softmax->proj->bias.copy_(torch::randn({64}));
    for (Attention* other : {&explicit_scores, &gated, &headwise}) {
      (*other)->qkv->weight.copy_(softmax->qkv->weight);
      (*other)->qkv->bias.copy_(softmax->qkv->bias);
      (*other)->proj->weight.copy_(softmax->proj->weight);
      (*other)->proj->bias.copy_(softmax->proj->bias);
    }
  }
  auto x = torch::randn({2, 16, 64});
  torch::NoGradGuard no_grad;
  auto reference = softmax->forward(x);
  CHECK(test::max_abs_diff(explicit_scores->forward(x), reference) < 1e-5);
  CHECK(gated->gate_proj->weight.sizes() == torch::IntArrayRef({64, 64}));
  CHECK(headwise->gate_proj->weight.sizes() == torch::IntArrayRef({4, 64}));
  // A zero gate projection gives sigmoid(0) = 1/2 on every head: proj(o / 2).
  for (Attention* g : {&gated, &headwise}) {
    (*g)->gate_proj->weight.zero_();
    (*g)->gate_proj->bias.zero_();
    auto bias = softmax->proj->bias;
    CHECK(test::max_abs_diff((*g)->forward(x), 0.5 * (reference - bias) + bias) < 1e-5);
  }
  // A gate that is open on head 0 only keeps head 0's contribution.
  headwise->gate_proj->bias.copy_(torch::tensor({40.0f, -40.0f, -40.0f, -40.0f}));
  auto qkv = headwise->qkv->forward(x).reshape({2, 16, 3, 4, 16}).permute({2, 0, 3, 1, 4});
  auto o = torch::softmax(torch::matmul(qkv[0], qkv[1].transpose(-2, -1)) / 4.0, -1).matmul(qkv[2]);
  o.narrow(1, 1, 3).zero_();
  auto expected = headwise->proj->forward(o.transpose(1, 2).reshape({2, 16, 64}));
  CHECK(test::max_abs_diff(headwise->forward(x), expected) < 1e-5);
}

TEST_CASE("linear attention module: KV gate starts at 1, conv sees only the grid tokens", "[unit][attention]") {
  torch::manual_seed(4);
  const int64_t prefix = 3, grid = 4;
  Attention linear(32, 2, options_for("linear", prefix + grid * grid, grid, grid));
  CHECK(test::max_abs_diff(torch::softplus(linear->kv_gate_key), torch::ones({1, 2, prefix + grid * grid, 1})) < 1e-6);
  CHECK(test::max_abs_diff(linear->kv_gate_value, torch::ones({1, 2, prefix + grid * grid, 1})) == 0);
  CHECK(linear->dwconv->weight.sizes() == torch::IntArrayRef({32, 1, 5, 5}));
  auto x = torch::randn({2, prefix + grid * grid, 32});
  torch::NoGradGuard no_grad;
  auto with_conv = linear->forward(x);
  // Zeroing the conv changes grid tokens only.
  linear->dwconv->weight.zero_();
  linear->dwconv->bias.zero_();
  auto without_conv = linear->forward(x);
  CHECK(test::max_abs_diff(with_conv.narrow(1, 0, prefix), without_conv.narrow(1, 0, prefix)) < 1e-6);
  CHECK(test::max_abs_diff(with_conv.narrow(1, prefix, grid * grid), without_conv.narrow(1, prefix, grid * grid)) >
        1e-3);
  // A very negative raw key gate stays positive after softplus: finite outputs.
  linear->kv_gate_key.fill_(-30.0);
  CHECK(torch::isfinite(linear->forward(x)).all().item<bool>());
  // The gate is tied to N.
  CHECK_THROWS_AS(linear->forward(torch::randn({1, 5, 32})), Error);
}

TEST_CASE("attention names parse and unknown ones are refused", "[unit][attention]") {
  CHECK(models::attention_name(models::parse_attention("linear")) == "linear");
  CHECK(models::attention_name(models::parse_attention("gated-headwise")) == "gated-headwise");
  CHECK_THROWS_AS(models::parse_attention("flash"), Error);
}
