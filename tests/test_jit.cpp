#include <catch2/catch.hpp>

#include <cmath>

#include "backbone_checks.h"
#include "core/compat.h"
#include "core/error.h"
#include "golden_models.h"
#include "models/attention.h"
#include "models/jit.h"
#include "models/layers.h"
#include "models/linear_attention.h"
#include "models/pos_embed.h"
#include "models/zoo.h"
#include "test_helpers.h"

using namespace fluxion;
using models::JiT;
using models::JiTConfig;

namespace {
JiTConfig tiny_jit(const std::string& attention = "softmax") {
  JiTConfig c;
  c.input_size = 32;
  c.patch_size = 8;
  c.in_channels = 3;
  c.hidden_size = 64;
  c.depth = 4;
  c.num_heads = 4;
  c.num_classes = 10;
  c.bottleneck_dim = 16;
  c.in_context_len = 4;
  c.in_context_start = 2;
  c.attention = models::parse_attention(attention);
  return c;
}
}  // namespace

TEST_CASE("JiT reproduces the official forward", "[golden][jit]") {
  const auto golden = test::load_golden_model("jit_tiny.safetensors", "JiT");
  if (!golden) return;
  const auto& file = golden->tensors;
  const auto& model = golden->model;
  CHECK(test::max_abs_diff(models::sincos_2d_pos_embed(64, 4, 4).unsqueeze(0), file.at("model.pos_embed")) < 1e-7);

  torch::NoGradGuard no_grad;
  auto out = model->forward(file.at("input.x"), file.at("input.t"), file.at("input.y"));
  const double error = test::max_abs_diff(out, file.at("output.forward"));
  const double scale = file.at("output.forward").abs().max().item<double>();
  WARN("JiT golden max abs error " << error << " (output scale " << scale << ")");
  CHECK(error < 1e-4);
}

TEST_CASE("axial RoPE tables: rows then columns, pairs share a frequency, prefix is identity", "[unit][jit]") {
  const int64_t head_dim = 16, grid = 3, prefix = 2;
  auto rope = models::axial_rope_tables(head_dim, grid, prefix);
  REQUIRE(rope.cos.sizes() == torch::IntArrayRef({prefix + grid * grid, head_dim}));
  CHECK(test::max_abs_diff(rope.cos.narrow(0, 0, prefix), torch::ones({prefix, head_dim})) == 0);
  CHECK(test::max_abs_diff(rope.sin.narrow(0, 0, prefix), torch::zeros({prefix, head_dim})) == 0);
  const int64_t row = 2, col = 1, token = prefix + row * grid + col, dim = head_dim / 2;
  for (int64_t k = 0; k < dim / 2; ++k) {
    const double freq = 1.0 / std::pow(10000.0, 2.0 * k / dim);
    for (int64_t r = 0; r < 2; ++r) {
      CHECK(rope.cos[token][2 * k + r].item<double>() == Approx(std::cos(row * freq)).margin(1e-6));
      CHECK(rope.sin[token][dim + 2 * k + r].item<double>() == Approx(std::sin(col * freq)).margin(1e-6));
    }
  }
  // A rotation: pair norms are preserved, and (a, b) at angle phi -> (a cos - b sin, b cos + a sin).
  auto x = torch::randn({1, 1, prefix + grid * grid, head_dim});
  auto rotated = models::apply_rope(x, rope);
  CHECK(test::max_abs_diff(rotated.narrow(2, 0, prefix), x.narrow(2, 0, prefix)) == 0);
  const double a = x[0][0][token][0].item<double>(), b = x[0][0][token][1].item<double>();
  CHECK(rotated[0][0][token][0].item<double>() == Approx(a * std::cos(row) - b * std::sin(row)).margin(1e-5));
  CHECK(rotated[0][0][token][1].item<double>() == Approx(b * std::cos(row) + a * std::sin(row)).margin(1e-5));
}

TEST_CASE("JiT gives every parameter a gradient with each attention kind", "[unit][jit]") {
  for (const std::string kind : {"softmax", "gated", "linear"}) {
    INFO(kind);
    auto config = tiny_jit(kind);
    JiT model(config);
    CHECK(model.parameter_count() == models::jit_parameter_count(config));
    test::randomize_parameters(model, 5);
    model.train();
    auto x = torch::randn({2, 3, 32, 32});
    auto out = test::check_every_parameter_gets_gradient(model, x, torch::rand({2}), torch::tensor({1, 10}));
    CHECK(out.sizes() == torch::IntArrayRef({2, 3, 32, 32}));
  }
}

TEST_CASE("JiT's patch embedding gives contiguous tokens", "[unit][jit]") {
  // as SiT's (test_sit.cpp): a transposed view would set the layout of the whole residual stream
  models::JiT model(tiny_jit());
  const auto tokens = model.x_embedder->forward(torch::randn({2, 3, 32, 32}));
  CHECK(tokens.sizes() == torch::IntArrayRef({2, 16, 64}));
  CHECK(tokens.is_contiguous());
  CHECK((tokens + model.pos_embed).is_contiguous());
}

TEST_CASE("JiT: dropout only in the middle half, linear KV gates sized for the in-context tokens", "[unit][jit]") {
  auto config = tiny_jit("linear");
  config.depth = 8;
  config.in_context_start = 3;
  config.attn_drop = config.proj_drop = 0.2;
  JiT model(config);
  for (int64_t i = 0; i < 8; ++i) {
    INFO("block " << i);
    auto& block = model.blocks->at<models::JiTBlockImpl>(i);
    const bool middle = i >= 2 && i < 6;
    CHECK(block.attn->options.proj_drop == (middle ? 0.2 : 0.0));
    CHECK(block.mlp->ffn_dropout->options.p() == (middle ? 0.2 : 0.0));
    CHECK(block.attn->kv_gate_key.size(2) == (i >= 3 ? 16 + 4 : 16));
  }
  // In eval mode dropout is off: two forwards agree exactly.
  model.eval();
  torch::NoGradGuard no_grad;
  auto x = torch::randn({1, 3, 32, 32});
  auto t = torch::rand({1});
  auto y = torch::tensor({4});
  CHECK(test::max_abs_diff(model.forward(x, t, y), model.forward(x, t, y)) == 0);
}

TEST_CASE("JiT golden forward on CUDA", "[cuda][jit]") {
  if (!torch::cuda::is_available()) {
    test::skip_test("CUDA not available");
  }
  const auto golden = test::load_golden_model("jit_tiny.safetensors", "JiT");
  if (!golden) return;
  const auto& file = golden->tensors;
  const auto& model = golden->model;
  model->to(torch::kCUDA);
  torch::NoGradGuard no_grad;
  auto out = model->forward(file.at("input.x").cuda(), file.at("input.t").cuda(), file.at("input.y").cuda());
  const double error = test::max_abs_diff(out.cpu(), file.at("output.forward"));
  WARN("JiT golden max abs error on CUDA " << error);
  CHECK(error < 1e-4);
}

// At this size a missing float32 island moves the whole backbone's output by less than bf16's own
// error (measured: removing any one island changed the relative error by < 0.002), so this test
// bounds the total error only; the islands have their own test below.
TEST_CASE("backbones run under bf16 autocast within a few bf16 roundings of float32", "[unit][jit]") {
  for (const std::string kind : {"softmax", "gated", "linear"}) {
    INFO(kind);
    for (const std::string name : {"SiT-T/4", "JiT-B/32"}) {
      INFO(name);
      auto config = models::zoo_config(name, {kind, 32, 3, 10});
      if (auto* jit = std::get_if<JiTConfig>(&config.config)) {
        jit->hidden_size = 64, jit->num_heads = 4, jit->depth = 2, jit->bottleneck_dim = 8;
        jit->in_context_len = 2, jit->in_context_start = 1, jit->patch_size = 8;
      }
      auto model = models::build_model(config);
      test::randomize_parameters(*model, 9, 0.1);
      model->eval();
      auto x = torch::randn({2, 3, 32, 32});
      auto t = torch::rand({2});
      auto y = torch::tensor({1, 3});
      torch::NoGradGuard no_grad;
      auto reference = model->forward(x, t, y);
      torch::Tensor mixed;
      {
        compat::AutocastGuard autocast(torch::kCPU, torch::kBFloat16);
        mixed = model->forward(x, t, y);
      }
      REQUIRE(torch::isfinite(mixed).all().item<bool>());
      const double relative = test::max_abs_diff(mixed, reference) / reference.abs().max().item<double>();
      INFO("relative error " << relative);
      // bf16 keeps 8 significant bits (relative rounding 2^-9); measured 0.005 to 0.016 here.
      CHECK(relative < 0.03);
    }
  }
}

namespace {
// The largest |a - b| relative to the largest |b|.
double relative_to_max(const torch::Tensor& a, const torch::Tensor& b) {
  return test::max_abs_diff(a.to(torch::kFloat), b.to(torch::kFloat)) / b.abs().max().item<double>();
}
}  // namespace

// Each island is checked where bf16 would visibly fail without it; a missing island breaks the
// matching section (shown by deleting each one in turn).
TEST_CASE("float32 islands under bf16 autocast: attention scores, linear-attention sums, RMSNorm", "[unit][jit]") {
  torch::NoGradGuard no_grad;
  SECTION("JiT attention scores: large scores, bf16 only after the softmax") {
    // Scores 64 + (0 .. 3.75): shift-invariant for softmax, but bf16 spaces numbers in [64, 128]
    // by 0.5, so bf16 scores would move the weights by up to exp(0.25) - 1 = 28%. With the island
    // only three bf16 roundings remain (weights, weights x v, the projection): <= 3 * 2^-9.
    models::AttentionOptions options;
    options.fp32_scores = true;  // what JiT builds, checked on a real JiT below
    const int64_t dim = 16, tokens = 32;
    models::Attention attn(dim, 1, options);
    attn->eval();
    auto eye = torch::eye(dim);
    auto v_map = eye.clone();
    v_map[0][0] = 0;  // v leaves out the constant channel, so the output shows the weights
    attn->qkv->weight.copy_(torch::cat({eye, eye, v_map}));
    attn->qkv->bias.zero_();
    attn->proj->weight.copy_(eye);
    attn->proj->bias.zero_();
    // tokens [16, bits...]: every product exact in bf16 and float32; score = (256 + bits.bits') / 4
    auto gen = at::detail::createCPUGenerator(5);
    auto bits = torch::randint(0, 2, {1, tokens, dim - 1}, gen, torch::kFloat);
    auto x = torch::cat({torch::full({1, tokens, 1}, 16.0), bits}, 2);
    auto reference = attn->forward(x);
    torch::Tensor mixed;
    {
      compat::AutocastGuard autocast(torch::kCPU, torch::kBFloat16);
      mixed = attn->forward(x);
    }
    const double error = relative_to_max(mixed, reference);
    INFO("relative error " << error);
    CHECK(error < 4 * std::pow(2.0, -9));  // measured 0.004; 0.07 without the island
    // JiT's blocks take this path (SiT's use SDPA, as upstream)
    int64_t attention_modules = 0;
    for (const auto& module : std::make_shared<JiT>(tiny_jit())->modules())
      if (const auto* a = module->as<models::AttentionImpl>()) {
        ++attention_modules;
        CHECK(a->options.fp32_scores);
      }
    CHECK(attention_modules > 0);
  }
  SECTION("linear attention: sums and division in float32, the result as without autocast") {
    // The whole core runs with autocast off, so under autocast it must give the float32 result
    // (same ops, same order); with bf16 products and sums it is off by 0.006 here.
    auto gen = at::detail::createCPUGenerator(6);
    auto q = at::randn({2, 4, 256, 16}, gen), k = at::randn({2, 4, 256, 16}, gen), v = at::randn({2, 4, 256, 16}, gen);
    auto key_gate = at::rand({1, 4, 256, 1}, gen) + 0.5, value_gate = at::rand({1, 4, 256, 1}, gen) + 0.5;
    auto reference = models::linear_attention(q, k, v, key_gate, value_gate);
    torch::Tensor mixed;
    {
      compat::AutocastGuard autocast(torch::kCPU, torch::kBFloat16);
      mixed = models::linear_attention(q, k, v, key_gate, value_gate);
    }
    CHECK(mixed.scalar_type() == torch::kFloat);
    const double error = relative_to_max(mixed, reference);
    INFO("relative error " << error);
    CHECK(error < 1e-6);
  }
  SECTION("RMSNorm of bf16 activations: computed in float32, rounded once") {
    // Under autocast the norms see bf16 activations (outputs of bf16 linears). Normalising in
    // float32 and rounding once gives exactly the float32 result rounded to bf16; bf16 squares,
    // mean and rsqrt would round three more times.
    models::RMSNorm norm(64);
    auto gen = at::detail::createCPUGenerator(7);
    norm->weight.copy_(at::randn({64}, gen));
    auto x = (at::randn({8, 32, 64}, gen) * 3).to(torch::kBFloat16);
    auto out = norm->forward(x);
    REQUIRE(out.scalar_type() == torch::kBFloat16);
    auto h = x.to(torch::kFloat);
    auto reference = norm->weight * (h * torch::rsqrt(h.pow(2).mean(-1, true) + norm->eps));
    CHECK(torch::equal(out, reference.to(torch::kBFloat16)));
  }
}
