#include <catch2/catch.hpp>

#include "core/safetensors.h"
#include "metrics/dinov2.h"
#include "models/module_state.h"
#include "test_helpers.h"

using namespace fluxion;

namespace {
double relative_error(const torch::Tensor& a, const torch::Tensor& b) {
  return test::max_abs_diff(a, b) / b.abs().max().to(torch::kDouble).item<double>();
}

metrics::Dinov2Config tiny_config(metrics::PositionInterpolation interpolation) {
  metrics::Dinov2Config c;
  c.hidden_size = 64;
  c.num_layers = 2;
  c.num_heads = 4;
  c.image_size = 518;
  c.interpolation = interpolation;
  return c;
}

// transformers names -> facebookresearch/dinov2 names (query/key/value fused into qkv)
core::TensorMap to_official(const core::TensorMap& hf) {
  core::TensorMap out;
  const std::vector<std::pair<std::string, std::string>> top = {
      {"embeddings.cls_token", "cls_token"},
      {"embeddings.position_embeddings", "pos_embed"},
      {"embeddings.mask_token", "mask_token"},
      {"embeddings.patch_embeddings.projection.weight", "patch_embed.proj.weight"},
      {"embeddings.patch_embeddings.projection.bias", "patch_embed.proj.bias"},
      {"layernorm.weight", "norm.weight"},
      {"layernorm.bias", "norm.bias"}};
  for (const auto& [from, to] : top) out[to] = hf.at(from);
  for (int i = 0; i < 2; ++i) {
    const std::string h = "encoder.layer." + std::to_string(i) + ".", o = "blocks." + std::to_string(i) + ".";
    for (const std::string kind : {"weight", "bias"}) {
      out[o + "attn.qkv." + kind] =
          torch::cat({hf.at(h + "attention.attention.query." + kind), hf.at(h + "attention.attention.key." + kind),
                      hf.at(h + "attention.attention.value." + kind)});
      out[o + "attn.proj." + kind] = hf.at(h + "attention.output.dense." + kind);
      out[o + "norm1." + kind] = hf.at(h + "norm1." + kind);
      out[o + "norm2." + kind] = hf.at(h + "norm2." + kind);
      out[o + "mlp.fc1." + kind] = hf.at(h + "mlp.fc1." + kind);
      out[o + "mlp.fc2." + kind] = hf.at(h + "mlp.fc2." + kind);
    }
    out[o + "ls1.gamma"] = hf.at(h + "layer_scale1.lambda1");
    out[o + "ls2.gamma"] = hf.at(h + "layer_scale2.lambda1");
  }
  return out;
}
}  // namespace

TEST_CASE("DINOv2 matches transformers' Dinov2Model, position table 37x37 -> 16x16", "[golden][dinov2]") {
  const auto path = test::golden_path("dinov2_hf_tiny.safetensors");
  if (path.empty()) {
    test::skip_test("../shared/golden/dinov2_hf_tiny.safetensors absent");
  }
  const auto weights = core::load_safetensors_prefixed(path, "model.");
  const auto g = core::load_safetensors(path);
  torch::NoGradGuard no_grad;

  // through the loader: configuration inferred from shapes and the metadata's head count
  core::Metadata metadata;
  core::load_safetensors(path, &metadata);
  const auto file = test::scratch_dir("dinov2_golden") + "/hf.safetensors";
  core::save_safetensors(file, weights, {{"config", metadata.at("config")}});
  auto model = metrics::load_dinov2(file);
  CHECK(model->config().num_heads == 4);
  CHECK(model->config().num_layers == 2);
  const auto out = model->forward(g.at("input.pixel_values"));
  INFO("last_hidden_state relative error " << relative_error(out.last_hidden_state, g.at("output.last_hidden_state")));
  INFO("pooler relative error " << relative_error(out.cls, g.at("output.pooler_output")));
  CHECK(relative_error(out.last_hidden_state, g.at("output.last_hidden_state")) < 1e-5);
  CHECK(relative_error(out.cls, g.at("output.pooler_output")) < 1e-5);
}

// [unit], not [golden]: fluxion under official names against fluxion under transformers names.
TEST_CASE("DINOv2 official names load into the same network", "[unit][dinov2]") {
  const auto path = test::golden_path("dinov2_hf_tiny.safetensors");
  if (path.empty()) {
    test::skip_test("../shared/golden/dinov2_hf_tiny.safetensors absent");
  }
  const auto weights = core::load_safetensors_prefixed(path, "model.");
  const auto pixels = core::load_safetensors(path).at("input.pixel_values");
  torch::NoGradGuard no_grad;
  const auto dir = test::scratch_dir("dinov2_official");
  core::save_safetensors(dir + "/official.safetensors", to_official(weights));
  auto official = metrics::load_dinov2(dir + "/official.safetensors", torch::kCPU, 4);
  CHECK(official->config().interpolation == metrics::PositionInterpolation::offset_0_1);
  metrics::Dinov2 reference(tiny_config(metrics::PositionInterpolation::offset_0_1));
  models::load_module_state(*reference, weights, "golden", "DINOv2");
  reference->eval();
  CHECK(test::max_abs_diff(official->forward(pixels).cls, reference->forward(pixels).cls) == 0.0);
  // transformers names pass through the renaming unchanged
  CHECK(metrics::dinov2_to_hf_names(weights).size() == weights.size());
}

// dgm-eval resizes PIL images with Image.BICUBIC; tests/golden/pil_bicubic.safetensors holds
// PIL's output for fixed images (tests/python/pil_bicubic_reference.py). PIL's fixed-point
// weights may move a level by one. One 2-D antialiased bicubic without PIL's uint8 step between
// its passes was up to 17 levels off (mean 0.28); torch's plain bicubic (a = -0.75, no
// antialiasing) 119 levels (mean 25).
TEST_CASE("DINOv2 preprocessing resizes as PIL's bicubic does", "[golden][dinov2]") {
  const auto golden = core::load_safetensors(std::string(FLUXION_SOURCE_DIR) + "/tests/golden/pil_bicubic.safetensors");
  const auto mean = torch::tensor({0.485f, 0.456f, 0.406f}).view({1, 3, 1, 1});
  const auto std = torch::tensor({0.229f, 0.224f, 0.225f}).view({1, 3, 1, 1});
  for (const char* name : {"up20", "up37x23", "down150", "down211x97"}) {
    INFO(name);
    const auto input = golden.at(std::string("input.") + name).permute({2, 0, 1}).unsqueeze(0);  // (1, 3, H, W)
    const auto expected = golden.at(std::string("pil.") + name).permute({2, 0, 1}).unsqueeze(0).to(torch::kFloat);
    // (1, 3, 64, 64) normalised -> back to the resized uint8 levels
    const auto levels = ((metrics::dinov2_preprocess(input, 64) * std + mean) * 255.0f).round();
    const auto diff = (levels - expected).abs();
    INFO("max " << diff.max().item<float>() << ", mean " << diff.mean().item<float>());
    CHECK(diff.max().item<float>() <= 1.0f);
    CHECK(diff.mean().item<float>() < 0.01f);
  }
}
