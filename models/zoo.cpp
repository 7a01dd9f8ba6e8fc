#include "models/zoo.h"

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "models/config_fields.h"

namespace fluxion::models {

namespace {
SiTConfig sit(int64_t depth, int64_t hidden, int64_t heads, int64_t patch) {
  SiTConfig c;
  c.depth = depth;
  c.hidden_size = hidden;
  c.num_heads = heads;
  c.patch_size = patch;
  return c;
}

// The small preset: trains on a 2-core CPU in minutes on 32x32x1 (padded Fashion-MNIST).
SiTConfig sit_tiny(int64_t patch) {
  SiTConfig c = sit(4, 128, 4, patch);
  c.input_size = 32;
  c.in_channels = 1;
  c.num_classes = 10;
  c.learn_sigma = false;
  return c;
}

JiTConfig jit(int64_t depth, int64_t hidden, int64_t heads, int64_t bottleneck, int64_t start, int64_t patch,
              double dropout) {
  JiTConfig c;
  c.depth = depth;
  c.hidden_size = hidden;
  c.num_heads = heads;
  c.bottleneck_dim = bottleneck;
  c.in_context_start = start;
  c.patch_size = patch;
  c.input_size = patch == 16 ? 256 : 512;  // 256 tokens at every resolution
  c.attn_drop = c.proj_drop = dropout;
  return c;
}

const std::vector<std::pair<std::string, std::variant<SiTConfig, JiTConfig>>>& zoo() {
  static const auto* entries = [] {
    auto* list = new std::vector<std::pair<std::string, std::variant<SiTConfig, JiTConfig>>>();
    const std::vector<std::tuple<std::string, int64_t, int64_t, int64_t>> sizes = {
        {"S", 12, 384, 6}, {"B", 12, 768, 12}, {"L", 24, 1024, 16}, {"XL", 28, 1152, 16}};
    for (const auto& [size, depth, hidden, heads] : sizes) {
      for (int64_t patch : {2, 4, 8})
        list->push_back({concat("SiT-", size, "/", patch), sit(depth, hidden, heads, patch)});
    }
    list->push_back({"SiT-T/2", sit_tiny(2)});
    list->push_back({"SiT-T/4", sit_tiny(4)});
    for (int64_t patch : {16, 32}) {
      list->push_back({concat("JiT-B/", patch), jit(12, 768, 12, 128, 4, patch, 0.0)});
      list->push_back({concat("JiT-L/", patch), jit(24, 1024, 16, 128, 8, patch, 0.0)});
      list->push_back({concat("JiT-H/", patch), jit(32, 1280, 16, 256, 10, patch, 0.2)});
    }
    return list;
  }();
  return *entries;
}

template <typename Config>
void apply_overrides(Config& c, const ModelOverrides& o) {
  if (o.attention) c.attention = parse_attention(*o.attention);
  if (o.image_size) c.input_size = *o.image_size;
  if (o.channels) c.in_channels = *o.channels;
  if (o.num_classes) c.num_classes = *o.num_classes;
}
}  // namespace

std::vector<std::string> list_models() {
  std::vector<std::string> names;
  for (const auto& entry : zoo()) names.push_back(entry.first);
  return names;
}

ModelConfig zoo_config(const std::string& name, const ModelOverrides& overrides) {
  for (const auto& [entry_name, config] : zoo()) {
    if (entry_name != name) continue;
    ModelConfig result{name, config};
    std::visit([&](auto& c) { apply_overrides(c, overrides); }, result.config);
    parameter_count(result);  // validates the overridden config
    return result;
  }
  std::string names;
  for (const auto& n : list_models()) names += (names.empty() ? "" : ", ") + n;
  fail("unknown model '", name, "'; the zoo has: ", names);
}

BackbonePtr build_model(const ModelConfig& config) {
  if (const auto* c = std::get_if<SiTConfig>(&config.config)) return std::make_shared<SiT>(*c);
  return std::make_shared<JiT>(std::get<JiTConfig>(config.config));
}

int64_t parameter_count(const ModelConfig& config) {
  if (const auto* c = std::get_if<SiTConfig>(&config.config)) return sit_parameter_count(*c);
  return jit_parameter_count(std::get<JiTConfig>(config.config));
}

std::string config_to_json(const ModelConfig& config) {
  auto j = nlohmann::json::parse(std::holds_alternative<SiTConfig>(config.config)
                                     ? sit_config_json(std::get<SiTConfig>(config.config))
                                     : jit_config_json(std::get<JiTConfig>(config.config)));
  if (!config.name.empty()) j["name"] = config.name;
  return j.dump();
}

ModelConfig config_from_json(const std::string& text) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail("model config: not valid JSON (", e.what(), ")");
  }
  FLUXION_CHECK(j.is_object() && j.contains("model"), "model config: no 'model' field in ", text);
  FLUXION_CHECK(j.at("model").is_string(), "model config: 'model' is ", j.at("model").dump(),
                ", not a family name (SiT or JiT)");  // a number escaped as nlohmann's type_error
  const std::string family = j.at("model").get<std::string>();
  ModelConfig result;
  read_config_field(j, "name", result.name);
  if (family == "SiT") {
    SiTConfig c;
    read_shared_config_fields(j, c);
    read_config_field(j, "class_dropout_prob", c.class_dropout_prob);
    read_config_field(j, "learn_sigma", c.learn_sigma);
    result.config = c;
  } else if (family == "JiT") {
    JiTConfig c;
    read_shared_config_fields(j, c);
    read_config_field(j, "attn_drop", c.attn_drop);
    read_config_field(j, "proj_drop", c.proj_drop);
    read_config_field(j, "bottleneck_dim", c.bottleneck_dim);
    read_config_field(j, "in_context_len", c.in_context_len);
    read_config_field(j, "in_context_start", c.in_context_start);
    result.config = c;
  } else {
    fail("model config: unknown model family '", family, "' (expected SiT or JiT)");
  }
  parameter_count(result);  // validates
  return result;
}

std::string describe(const ModelConfig& config) {
  auto j = nlohmann::json::parse(config_to_json(config));
  std::ostringstream out;
  out << "model: " << (config.name.empty() ? std::string("(unnamed)") : config.name) << "\n";
  for (const auto& [key, value] : j.items()) {
    if (key == "name") continue;
    out << "  " << key << ": " << (value.is_string() ? value.get<std::string>() : value.dump()) << "\n";
  }
  const int64_t patch = j.at("patch_size").get<int64_t>(), size = j.at("input_size").get<int64_t>();
  out << "  tokens: " << (size / patch) * (size / patch) << "\n";
  out << "parameters: " << parameter_count(config) << "\n";
  return out.str();
}

}  // namespace fluxion::models
