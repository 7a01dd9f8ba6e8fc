#pragma once
// The model zoo: names ("SiT-XL/2", "JiT-B/16", the CPU preset "SiT-T/2", ...) -> configs, with
// per-run overrides (attention kind, image size, channels, classes), and construction.
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "models/backbone.h"
#include "models/jit.h"
#include "models/sit.h"

namespace fluxion::models {

struct ModelConfig {
  std::string name;  // zoo name, or "" when read from JSON without one
  std::variant<SiTConfig, JiTConfig> config;
};

struct ModelOverrides {
  std::optional<std::string> attention;  // softmax | gated | gated-headwise | linear
  std::optional<int64_t> image_size;
  std::optional<int64_t> channels;
  std::optional<int64_t> num_classes;
};

// Every zoo name, in a stable order.
std::vector<std::string> list_models();

// Throws fluxion::Error listing the zoo when `name` is unknown.
ModelConfig zoo_config(const std::string& name, const ModelOverrides& overrides = {});

BackbonePtr build_model(const ModelConfig& config);

// Counted from the config (no allocation); equals build_model(config)->parameter_count().
int64_t parameter_count(const ModelConfig& config);

// {"model": "SiT"|"JiT", "name": ..., <config fields>} and back (for checkpoint metadata).
std::string config_to_json(const ModelConfig& config);
ModelConfig config_from_json(const std::string& json);

// Multi-line human-readable summary: name, family, every field, tokens and parameter count.
std::string describe(const ModelConfig& config);

}  // namespace fluxion::models
