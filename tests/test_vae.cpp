// The SD-VAE (models/vae.h): architecture, the first uploads' names, errors, and the golden
// comparison with diffusers' AutoencoderKL (tests/golden/sd_vae_tiny.safetensors, made by
// tests/python/vae_reference.py from diffusers' own code on fill-rule weights).
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "core/compat.h"
#include "core/safetensors.h"
#include "metrics/weight_fill.h"
#include "models/module_state.h"
#include "models/vae.h"
#include "test_helpers.h"

using namespace fluxion;

namespace {
models::VaeConfig tiny_config() {
  models::VaeConfig c;
  c.block_out_channels = {32, 64};
  c.layers_per_block = 1;
  c.norm_num_groups = 8;
  return c;
}

std::string golden_file() { return std::string(FLUXION_SOURCE_DIR) + "/tests/golden/sd_vae_tiny.safetensors"; }

// Largest difference relative to the reference's largest magnitude.
double relative_error(const torch::Tensor& got, const torch::Tensor& want) {
  return test::max_abs_diff(got, want) / want.abs().max().item<double>();
}
}  // namespace

TEST_CASE("the SD-VAE preset has the architecture of sd-vae-ft-ema", "[unit]") {
  models::AutoencoderKL vae(models::vae_preset("sd-vae-ft-mse"));
  int64_t parameters = 0;
  for (const auto& p : vae->parameters()) parameters += p.numel();
  // diffusers' AutoencoderKL.from_pretrained("stabilityai/sd-vae-ft-ema"): 83,653,863 parameters
  CHECK(parameters == 83653863);
  auto state = models::module_state(*vae);
  CHECK(state.at("decoder.up_blocks.0.upsamplers.0.conv.weight").sizes() == torch::IntArrayRef({512, 512, 3, 3}));
  CHECK(state.at("encoder.mid_block.attentions.0.to_out.0.weight").sizes() == torch::IntArrayRef({512, 512}));
  CHECK(state.at("encoder.down_blocks.1.resnets.0.conv_shortcut.weight").sizes() ==
        torch::IntArrayRef({256, 128, 1, 1}));
  CHECK(state.count("encoder.down_blocks.3.downsamplers.0.conv.weight") == 0);
  CHECK(vae->config().downsampling_factor() == 8);
}

TEST_CASE("VAE files with the first uploads' attention names load", "[unit]") {
  models::AutoencoderKL source(tiny_config());
  core::TensorMap legacy;
  for (const auto& [name, tensor] : models::module_state(*source)) {
    std::string old_name = name;
    for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
             {".to_q.", ".query."}, {".to_k.", ".key."}, {".to_v.", ".value."}, {".to_out.0.", ".proj_attn."}}) {
      auto at = old_name.find(from);
      if (at != std::string::npos) old_name.replace(at, from.size(), to);
    }
    legacy[old_name] = tensor.clone();
  }
  REQUIRE(legacy.count("decoder.mid_block.attentions.0.proj_attn.weight"));
  models::AutoencoderKL loaded(tiny_config());
  loaded->load_state(legacy, "legacy.safetensors");
  auto want = models::module_state(*source);
  for (const auto& [name, tensor] : models::module_state(*loaded)) {
    INFO(name);
    CHECK(torch::equal(tensor, want.at(name)));
  }
}

TEST_CASE("bad VAE input gives one-line errors", "[unit]") {
  models::AutoencoderKL vae(tiny_config());
  auto state = models::module_state(*vae);
  state.erase("decoder.conv_out.bias");
  state["encoder.conv_in.weight"] = torch::zeros({1, 2, 3, 3});
  test::expect_one_line_error(
      [&] { vae->load_state(state, "vae.safetensors"); },
      {"vae.safetensors does not fit AutoencoderKL", "encoder.conv_in.weight", "missing: decoder.conv_out.bias"});
  torch::NoGradGuard no_grad;
  test::expect_one_line_error([&] { vae->encode(torch::zeros({1, 3, 31, 32})); }, {"not a multiple of 2"});
  test::expect_one_line_error([&] { vae->encode(torch::zeros({1, 1, 32, 32})); }, {"do not fit (B, 3, H, W)"});
  test::expect_one_line_error([&] { vae->decode(torch::zeros({1, 3, 16, 16})); }, {"do not fit (B, 4, h, w)"});
  test::expect_one_line_error(
      [] {
        models::vae_config_from_json(R"({"down_block_types": ["AttnDownEncoderBlock2D"], "block_out_channels": [64]})");
      },
      {"AttnDownEncoderBlock2D", "not supported"});
  test::expect_one_line_error([] { models::vae_config_from_json("{\"block_out_channels\": [30, 64]}"); },
                              {"not a multiple of norm_num_groups"});
  test::expect_one_line_error([] { models::vae_preset("sd-vae-xl"); }, {"unknown VAE 'sd-vae-xl'"});
  test::expect_one_line_error([] { models::load_vae("/nonexistent/vae.safetensors", "", torch::kCPU); },
                              {"does not exist"});
}

TEST_CASE("AutoencoderKL matches diffusers on fill-rule weights", "[golden]") {
  core::Metadata metadata;
  auto golden = core::load_safetensors(golden_file(), &metadata);
  models::AutoencoderKL vae(models::vae_config_from_json(metadata.at("config")));

  // the state dict is diffusers', name for name and shape for shape
  auto official = nlohmann::json::parse(metadata.at("state_dict_shapes"));
  auto ours = models::module_state(*vae);
  CHECK(ours.size() == official.size());
  for (const auto& [name, shape] : official.items()) {
    INFO(name);
    REQUIRE(ours.count(name));
    CHECK(ours.at(name).sizes().vec() == shape.get<std::vector<int64_t>>());
  }
  metrics::fill_module(*vae);
  vae->eval();
  torch::NoGradGuard no_grad;

  // float32 on the CPU: the convolutions and the attention sum in another order than PyTorch's
  // oneDNN/MKL paths, so agreement is to float32 round-off accumulated over ~12 layers.
  const double tolerance = 2e-5;
  auto posterior = vae->encode(golden.at("input.images"));
  CHECK(relative_error(posterior.mean, golden.at("output.mean")) < tolerance);
  CHECK(relative_error(posterior.logvar, golden.at("output.logvar")) < tolerance);
  auto latents = vae->latents(golden.at("input.images"), golden.at("input.eps"));
  CHECK(relative_error(latents, golden.at("output.latents")) < tolerance);
  CHECK(relative_error(vae->decode(golden.at("output.latents")), golden.at("output.decode_latents")) < tolerance);
  CHECK(relative_error(vae->decode(golden.at("input.z")), golden.at("output.decode_z")) < tolerance);
}

// bf16 on CUDA, the way fluxion sample --vae decodes there (weights cast to bf16, no autocast),
// and encode under bf16 autocast (fluxion encode): agreement with diffusers' float32 outputs to
// bfloat16's precision (8 mantissa bits, ~0.4% per rounding, accumulated over ~12 layers).
TEST_CASE("AutoencoderKL in bf16 on CUDA matches diffusers' float32 outputs to bf16 precision", "[cuda]") {
  if (!torch::cuda::is_available()) test::skip_test("CUDA not available");
  core::Metadata metadata;
  auto golden = core::load_safetensors(golden_file(), &metadata);
  models::AutoencoderKL vae(models::vae_config_from_json(metadata.at("config")));
  metrics::fill_module(*vae);
  vae->to(torch::kCUDA);
  vae->eval();
  torch::NoGradGuard no_grad;
  const double tolerance = 3e-2;
  {
    compat::AutocastGuard autocast(torch::kCUDA, torch::kBFloat16);
    auto posterior = vae->encode(golden.at("input.images").cuda());
    CHECK(relative_error(posterior.mean.to(torch::kCPU, torch::kFloat), golden.at("output.mean")) < tolerance);
  }
  vae->to(torch::kBFloat16);
  auto decoded = vae->decode(golden.at("input.z").cuda());
  CHECK(decoded.scalar_type() == torch::kBFloat16);
  CHECK(relative_error(decoded.to(torch::kCPU, torch::kFloat), golden.at("output.decode_z")) < tolerance);
}
