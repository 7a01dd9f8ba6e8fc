#include <catch2/catch.hpp>

#include "backbone_checks.h"
#include "core/error.h"
#include "golden_models.h"
#include "models/pos_embed.h"
#include "models/sit.h"
#include "models/zoo.h"
#include "test_helpers.h"

using namespace fluxion;
using models::SiT;
using models::SiTConfig;

namespace {
SiTConfig tiny_sit(const std::string& attention = "softmax") {
  SiTConfig c;
  c.input_size = 8;
  c.patch_size = 2;
  c.in_channels = 4;
  c.hidden_size = 64;
  c.depth = 2;
  c.num_heads = 4;
  c.num_classes = 10;
  c.attention = models::parse_attention(attention);
  return c;
}
}  // namespace

TEST_CASE("SiT reproduces the official forward, all 8 channels and forward_with_cfg", "[golden][sit]") {
  const auto golden = test::load_golden_model("sit_tiny.safetensors", "SiT");
  if (!golden) return;
  const auto& file = golden->tensors;
  auto model = std::dynamic_pointer_cast<SiT>(golden->model);
  REQUIRE(model);
  // pos_embed is stored as built by the reference: ours must be the same table.
  CHECK(test::max_abs_diff(models::sincos_2d_pos_embed(64, 4, 4).unsqueeze(0), file.at("model.pos_embed")) < 1e-7);

  torch::NoGradGuard no_grad;
  const auto& x = file.at("input.x");
  const auto& t = file.at("input.t");
  const auto& y = file.at("input.y");
  const double forward_error = test::max_abs_diff(model->forward(x, t, y), file.at("output.forward"));
  const double all_error = test::max_abs_diff(model->forward_all_channels(x, t, y), file.at("output.forward_8ch"));
  const double cfg_error = test::max_abs_diff(
      model->forward_with_cfg(file.at("input.cfg_x"), file.at("input.cfg_t"), file.at("input.cfg_y"), 4.0),
      file.at("output.forward_with_cfg_4.0"));
  WARN("SiT golden max abs error: forward " << forward_error << ", 8ch " << all_error << ", cfg " << cfg_error);
  CHECK(forward_error < 1e-4);
  CHECK(all_error < 1e-4);
  CHECK(cfg_error < 1e-4);
}

TEST_CASE("timestep embedding is [cos, sin] of raw t with GLIDE frequencies", "[unit][sit]") {
  auto t = torch::tensor({0.0f, 1.0f, 0.25f});
  auto e = models::timestep_embedding(t, 256);
  REQUIRE(e.sizes() == torch::IntArrayRef({3, 256}));
  CHECK(test::max_abs_diff(e[0].narrow(0, 0, 128), torch::ones({128})) == 0);
  CHECK(test::max_abs_diff(e[0].narrow(0, 128, 128), torch::zeros({128})) == 0);
  // frequency 0 is 1; frequency i is 10000^(-i/128); no x1000 on t
  CHECK(e[1][0].item<double>() == Approx(std::cos(1.0)).margin(1e-6));
  CHECK(e[1][128].item<double>() == Approx(std::sin(1.0)).margin(1e-6));
  const double f5 = std::pow(10000.0, -5.0 / 128.0);
  CHECK(e[2][5].item<double>() == Approx(std::cos(0.25 * f5)).margin(1e-6));
  CHECK(e[2][133].item<double>() == Approx(std::sin(0.25 * f5)).margin(1e-6));
}

TEST_CASE("sin-cos table: first half encodes the column, second half the row", "[unit][sit]") {
  auto table = models::sincos_2d_pos_embed(16, 3, 5);  // 3 rows, 5 columns
  REQUIRE(table.sizes() == torch::IntArrayRef({15, 16}));
  const int64_t row = 2, col = 3, token = row * 5 + col;
  for (int64_t k = 0; k < 4; ++k) {
    const double omega = 1.0 / std::pow(10000.0, k / 4.0);
    CHECK(table[token][k].item<double>() == Approx(std::sin(col * omega)).margin(1e-7));
    CHECK(table[token][4 + k].item<double>() == Approx(std::cos(col * omega)).margin(1e-7));
    CHECK(table[token][8 + k].item<double>() == Approx(std::sin(row * omega)).margin(1e-7));
    CHECK(table[token][12 + k].item<double>() == Approx(std::cos(row * omega)).margin(1e-7));
  }
}

TEST_CASE("SiT has the official names, zero output at init and label dropout in training", "[unit][sit]") {
  SiT model(tiny_sit());
  auto state = model.state_dict();
  CHECK(state.count("x_embedder.proj.weight"));
  CHECK(state.count("t_embedder.mlp.2.weight"));
  CHECK(state.count("y_embedder.embedding_table.weight"));
  CHECK(state.count("blocks.1.adaLN_modulation.1.bias"));
  CHECK(state.count("blocks.0.mlp.fc2.weight"));
  CHECK(state.count("final_layer.linear.weight"));
  CHECK(state.at("y_embedder.embedding_table.weight").size(0) == 11);
  CHECK(model.has_null_class());
  CHECK(state.size() == 32);  // the official key set of this config
  CHECK(model.parameter_count() == models::sit_parameter_count(tiny_sit()));

  model.eval();
  auto x = torch::randn({2, 4, 8, 8});
  auto out = model.forward(x, torch::rand({2}), torch::tensor({1, 10}));
  CHECK(out.sizes() == x.sizes());
  CHECK(out.abs().max().item<double>() == 0.0);  // adaLN-Zero and the zeroed final layer

  // Label dropout: probability 1 sends every label to the null row, only in training.
  auto config = tiny_sit();
  config.class_dropout_prob = 1.0;
  SiT dropping(config);
  auto labels = torch::tensor({0, 3, 7});
  auto null_row = dropping.y_embedder->embedding_table->weight[10];
  dropping.train();
  auto dropped = dropping.y_embedder->forward(labels);
  CHECK(test::max_abs_diff(dropped, null_row.unsqueeze(0).expand({3, -1})) == 0);
  dropping.eval();
  auto kept = dropping.y_embedder->forward(labels);
  CHECK(test::max_abs_diff(kept, dropping.y_embedder->embedding_table->weight.index_select(0, labels)) == 0);
}

TEST_CASE("SiT gives every parameter a gradient with each attention kind", "[unit][sit]") {
  for (const std::string kind : {"softmax", "gated", "gated-headwise", "linear"}) {
    INFO(kind);
    auto config = tiny_sit(kind);
    config.learn_sigma = false;
    SiT model(config);
    test::randomize_parameters(model, 3);
    model.train();
    auto x = torch::randn({2, 4, 8, 8});
    test::check_every_parameter_gets_gradient(model, x, torch::rand({2}), torch::tensor({2, 5}));
    CHECK(model.parameter_count() == models::sit_parameter_count(config));
  }
}

TEST_CASE("SiT's residual stream is contiguous from the patch embedding on", "[unit][sit]") {
  // A transposed stream (the embedding's flatten(2).transpose(1, 2) view, kept by every elementwise
  // op after it) made each LayerNorm copy its input and each residual update run strided.
  SiT model(tiny_sit());
  test::randomize_parameters(model, 5);
  const auto x = torch::randn({2, 4, 8, 8}), c = torch::randn({2, 64});
  const auto h = model.x_embedder->forward(x) + model.pos_embed;
  CHECK(h.is_contiguous());
  CHECK(model.blocks[0]->as<models::SiTBlock>()->forward(h, c).is_contiguous());
}

TEST_CASE("SiT takes any input size and channel count", "[unit][sit]") {
  auto config = models::zoo_config("SiT-T/2", {std::nullopt, 28, 1, 10});
  auto model = models::build_model(config);
  model->eval();
  torch::NoGradGuard no_grad;
  auto out = model->forward(torch::randn({2, 1, 28, 28}), torch::rand({2}), torch::tensor({0, 9}));
  CHECK(out.sizes() == torch::IntArrayRef({2, 1, 28, 28}));
  CHECK_THROWS_AS(model->forward(torch::randn({2, 1, 32, 32}), torch::rand({2}), torch::tensor({0, 9})), Error);
}

TEST_CASE("SiT refuses a state dict whose names or shapes do not fit", "[unit][sit]") {
  SiT model(tiny_sit());
  auto state = model.state_dict();
  SECTION("missing and unexpected names") {
    auto bad = state;
    bad["blocks.0.attn.qkv.weight_renamed"] = bad.at("blocks.0.attn.qkv.weight");
    bad.erase("blocks.0.attn.qkv.weight");
    try {
      model.load_state(bad, "ckpt.safetensors");
      FAIL("accepted a renamed tensor");
    } catch (const Error& e) {
      const std::string what = e.what();
      INFO(what);
      CHECK(what.find("ckpt.safetensors") != std::string::npos);
      CHECK(what.find("missing: blocks.0.attn.qkv.weight") != std::string::npos);
      CHECK(what.find("unexpected: blocks.0.attn.qkv.weight_renamed") != std::string::npos);
      CHECK(what.find('\n') == std::string::npos);
    }
  }
  SECTION("wrong shape") {
    auto bad = state;
    bad["final_layer.linear.weight"] = torch::zeros({16, 64});
    try {
      model.load_state(bad, "ckpt.safetensors");
      FAIL("accepted a misshapen tensor");
    } catch (const Error& e) {
      const std::string what = e.what();
      INFO(what);
      CHECK(what.find("final_layer.linear.weight [16, 64] vs model [32, 64]") != std::string::npos);
    }
  }
  SECTION("a round trip restores the weights") {
    SiT other(tiny_sit());
    test::randomize_parameters(model, 11);
    other.load_state(model.state_dict());
    for (const auto& [name, tensor] : other.state_dict())
      CHECK(test::max_abs_diff(tensor, model.state_dict().at(name)) == 0);
  }
}

TEST_CASE("SiT golden forward on CUDA", "[cuda][sit]") {
  if (!torch::cuda::is_available()) {
    test::skip_test("CUDA not available");
  }
  const auto golden = test::load_golden_model("sit_tiny.safetensors", "SiT");
  if (!golden) return;
  const auto& file = golden->tensors;
  auto model = std::dynamic_pointer_cast<SiT>(golden->model);
  REQUIRE(model);
  model->to(torch::kCUDA);
  torch::NoGradGuard no_grad;
  auto cuda = [](const torch::Tensor& t) { return t.to(torch::kCUDA); };
  const double forward_error = test::max_abs_diff(
      model->forward(cuda(file.at("input.x")), cuda(file.at("input.t")), cuda(file.at("input.y"))).cpu(),
      file.at("output.forward"));
  const double cfg_error =
      test::max_abs_diff(model
                             ->forward_with_cfg(cuda(file.at("input.cfg_x")), cuda(file.at("input.cfg_t")),
                                                cuda(file.at("input.cfg_y")), 4.0)
                             .cpu(),
                         file.at("output.forward_with_cfg_4.0"));
  WARN("SiT golden max abs error on CUDA: forward " << forward_error << ", cfg " << cfg_error);
  CHECK(forward_error < 1e-4);
  CHECK(cfg_error < 1e-4);
}
