#pragma once
// The config fields SiT and JiT share (geometry, width, depth, heads, MLP ratio, classes,
// attention), written to and read from the config JSON that checkpoints carry, in one place so
// that the two families cannot drift apart. sit.cpp and jit.cpp add their own fields when writing,
// zoo.cpp when reading.
#include <nlohmann/json.hpp>

#include <string>

#include "core/error.h"
#include "models/attention.h"

namespace fluxion::models {

// {"model": family, <the shared fields>}
template <typename Config>
nlohmann::json shared_config_json(const std::string& family, const Config& c) {
  nlohmann::json j = {{"model", family},
                      {"input_size", c.input_size},
                      {"patch_size", c.patch_size},
                      {"in_channels", c.in_channels},
                      {"hidden_size", c.hidden_size},
                      {"depth", c.depth},
                      {"num_heads", c.num_heads},
                      {"mlp_ratio", c.mlp_ratio},
                      {"num_classes", c.num_classes},
                      {"attention", attention_name(c.attention)}};
  return j;
}

// field = j[key] when j has the key (absent keys keep the default); a value of the wrong type
// throws fluxion::Error naming the key.
template <typename T>
void read_config_field(const nlohmann::json& j, const char* key, T& field) {
  if (!j.contains(key)) return;
  try {
    field = j.at(key).get<T>();
  } catch (const nlohmann::json::exception&) {
    fail("model config: field '", key, "' has a bad value ", j.at(key).dump());
  }
}

// The shared fields present in j; attention defaults to softmax.
template <typename Config>
void read_shared_config_fields(const nlohmann::json& j, Config& c) {
  read_config_field(j, "input_size", c.input_size);
  read_config_field(j, "patch_size", c.patch_size);
  read_config_field(j, "in_channels", c.in_channels);
  read_config_field(j, "hidden_size", c.hidden_size);
  read_config_field(j, "depth", c.depth);
  read_config_field(j, "num_heads", c.num_heads);
  read_config_field(j, "mlp_ratio", c.mlp_ratio);
  read_config_field(j, "num_classes", c.num_classes);
  std::string attention = "softmax";
  read_config_field(j, "attention", attention);
  c.attention = parse_attention(attention);
}

}  // namespace fluxion::models
