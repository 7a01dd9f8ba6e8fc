// Loading DINOv2 weights in either naming: transformers' (used by the module) or
// facebookresearch/dinov2's (renamed here).
#include <nlohmann/json.hpp>

#include <regex>
#include <set>

#include "core/error.h"
#include "metrics/dinov2.h"
#include "models/module_state.h"

namespace fluxion::metrics {

namespace {
bool starts_with(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

// "blocks.N.rest" (or the chunked "blocks.K.N.rest") -> transformers' name of the same tensor;
// "" for tensors fluxion does not use.
std::string official_block_name(const std::string& layer, const std::string& rest, core::TensorMap& out,
                                const torch::Tensor& value) {
  const std::string base = "encoder.layer." + layer + ".";
  static const std::map<std::string, std::string> renames = {
      {"norm1.weight", "norm1.weight"},
      {"norm1.bias", "norm1.bias"},
      {"norm2.weight", "norm2.weight"},
      {"norm2.bias", "norm2.bias"},
      {"attn.proj.weight", "attention.output.dense.weight"},
      {"attn.proj.bias", "attention.output.dense.bias"},
      {"ls1.gamma", "layer_scale1.lambda1"},
      {"ls2.gamma", "layer_scale2.lambda1"},
      {"mlp.fc1.weight", "mlp.fc1.weight"},
      {"mlp.fc1.bias", "mlp.fc1.bias"},
      {"mlp.fc2.weight", "mlp.fc2.weight"},
      {"mlp.fc2.bias", "mlp.fc2.bias"},
      {"mlp.w12.weight", "mlp.weights_in.weight"},
      {"mlp.w12.bias", "mlp.weights_in.bias"},
      {"mlp.w3.weight", "mlp.weights_out.weight"},
      {"mlp.w3.bias", "mlp.weights_out.bias"},
  };
  if (rest == "attn.qkv.weight" || rest == "attn.qkv.bias") {
    // (3C, ...) -> three (C, ...) in query, key, value order
    const auto parts = value.chunk(3, 0);
    const std::string kind = rest == "attn.qkv.weight" ? "weight" : "bias";
    out[base + "attention.attention.query." + kind] = parts[0];
    out[base + "attention.attention.key." + kind] = parts[1];
    out[base + "attention.attention.value." + kind] = parts[2];
    return "";
  }
  auto it = renames.find(rest);
  FLUXION_CHECK(it != renames.end(), "dinov2: unknown official tensor 'blocks.", layer, ".", rest, "'");
  return base + it->second;
}
}  // namespace

core::TensorMap dinov2_to_hf_names(const core::TensorMap& weights) {
  const bool official = weights.count("pos_embed") || weights.count("cls_token");
  core::TensorMap out;
  if (!official) {
    for (const auto& [name, value] : weights) {
      std::string n = starts_with(name, "dinov2.") ? name.substr(7) : name;
      if (starts_with(n, "embeddings.") || starts_with(n, "encoder.") || starts_with(n, "layernorm.")) out[n] = value;
    }
    return out;
  }
  static const std::regex block(R"(blocks\.(?:\d+\.)?(\d+)\.(.+))");
  static const std::map<std::string, std::string> top = {
      {"cls_token", "embeddings.cls_token"},
      {"pos_embed", "embeddings.position_embeddings"},
      {"mask_token", "embeddings.mask_token"},
      {"register_tokens", "embeddings.register_tokens"},
      {"patch_embed.proj.weight", "embeddings.patch_embeddings.projection.weight"},
      {"patch_embed.proj.bias", "embeddings.patch_embeddings.projection.bias"},
      {"norm.weight", "layernorm.weight"},
      {"norm.bias", "layernorm.bias"},
  };
  for (const auto& [name, value] : weights) {
    if (starts_with(name, "head.")) continue;
    std::smatch m;
    if (std::regex_match(name, m, block)) {
      const auto renamed = official_block_name(m[1].str(), m[2].str(), out, value);
      if (!renamed.empty()) out[renamed] = value;
      continue;
    }
    auto it = top.find(name);
    FLUXION_CHECK(it != top.end(), "dinov2: unknown official tensor '", name, "'");
    // the official mask token is (1, C) as well
    out[it->second] = value;
  }
  return out;
}

Dinov2 load_dinov2(const std::string& path, const torch::Device& device, int64_t num_heads) {
  core::Metadata metadata;
  auto raw = core::load_safetensors(path, &metadata);
  const bool official = raw.count("pos_embed") || raw.count("cls_token");
  auto weights = dinov2_to_hf_names(raw);
  FLUXION_CHECK(weights.count("embeddings.cls_token") && weights.count("embeddings.position_embeddings") &&
                    weights.count("embeddings.patch_embeddings.projection.weight"),
                "weights ", path, ": not a DINOv2 state dict (no embeddings.cls_token / pos_embed)");
  Dinov2Config c;
  const auto& proj = weights.at("embeddings.patch_embeddings.projection.weight");
  c.hidden_size = proj.size(0);
  c.patch_size = proj.size(2);
  const int64_t positions = weights.at("embeddings.position_embeddings").size(1) - 1;
  c.image_size = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(positions)))) * c.patch_size;
  std::set<int64_t> layers;
  static const std::regex layer_re(R"(encoder\.layer\.(\d+)\..*)");
  for (const auto& [name, value] : weights) {
    std::smatch m;
    if (std::regex_match(name, m, layer_re)) layers.insert(std::stoll(m[1].str()));
  }
  c.num_layers = static_cast<int64_t>(layers.size());
  c.swiglu = weights.count("encoder.layer.0.mlp.weights_in.weight") > 0;
  if (weights.count("embeddings.register_tokens")) c.num_registers = weights.at("embeddings.register_tokens").size(1);
  if (!c.swiglu && weights.count("encoder.layer.0.mlp.fc1.weight"))
    c.mlp_ratio =
        static_cast<double>(weights.at("encoder.layer.0.mlp.fc1.weight").size(0)) / static_cast<double>(c.hidden_size);
  c.num_heads = num_heads;
  if (c.num_heads <= 0 && metadata.count("config")) {
    const auto config = nlohmann::json::parse(metadata.at("config"), nullptr, false);
    if (config.is_object() && config.contains("num_attention_heads"))
      c.num_heads = config["num_attention_heads"].get<int64_t>();
  }
  if (c.num_heads <= 0) c.num_heads = std::max<int64_t>(1, c.hidden_size / 64);
  FLUXION_CHECK(c.hidden_size % c.num_heads == 0, "weights ", path, ": hidden size ", c.hidden_size,
                " is not divisible by ", c.num_heads, " heads");
  // hub models resize their position table with the +0.1 scale-factor trick
  c.interpolation = official ? PositionInterpolation::offset_0_1 : PositionInterpolation::size;
  if (!weights.count("embeddings.mask_token")) weights["embeddings.mask_token"] = torch::zeros({1, c.hidden_size});
  if (weights.at("embeddings.mask_token").dim() != 2)
    weights["embeddings.mask_token"] = weights.at("embeddings.mask_token").reshape({1, c.hidden_size});
  Dinov2 model(c);
  models::load_module_state(*model, weights, path, "DINOv2");
  model->to(device);
  model->eval();
  return model;
}

}  // namespace fluxion::metrics
