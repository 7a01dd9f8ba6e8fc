#pragma once
// The config fields SiT and JiT share (geometry, width, depth, heads, MLP ratio, classes,
// attention), written to and read from the config JSON that checkpoints carry, in one place so
// that the two families cannot drift apart. sit.cpp and jit.cpp add their own fields when writing,
// zoo.cpp when reading.
#include <nlohmann/json.hpp>

#include <string>
#include <type_traits>
#include <vector>

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

// Whether v can become a T without nlohmann's unchecked cast: get<integer>() of a floating-point
// value (1e57, fuzz_config) is undefined behaviour, so integers must be JSON integers (lists of
// them too). Other mismatches make get<T>() throw.
template <typename T>
struct is_vector : std::false_type {};
template <typename T>
struct is_vector<std::vector<T>> : std::true_type {};
template <typename T>
bool json_holds(const nlohmann::json& v) {
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    return v.is_number_integer();
  } else if constexpr (is_vector<T>::value) {
    if (!v.is_array()) return true;  // get<T>() refuses it
    for (const auto& element : v)
      if (!json_holds<typename T::value_type>(element)) return false;
    return true;
  } else {
    return true;
  }
}

// field = j[key] when j has the key (absent keys keep the default); a value of the wrong type
// throws fluxion::Error naming the key.
template <typename T>
void read_config_field(const nlohmann::json& j, const char* key, T& field) {
  if (!j.contains(key)) return;
  FLUXION_CHECK(json_holds<T>(j.at(key)), "model config: field '", key, "' has a bad value ", j.at(key).dump(),
                " (integers expected)");
  try {
    field = j.at(key).get<T>();
  } catch (const nlohmann::json::exception&) {
    fail("model config: field '", key, "' has a bad value ", j.at(key).dump());
  }
}

// The shared fields within bounds that every model fluxion can train lies far inside, so that a
// corrupt or hostile config (a checkpoint's metadata) fails here instead of dividing by zero or
// overflowing int64 in the parameter count and the layer shapes. Zero heads divided by zero
// (fuzz_config).
template <typename Config>
void check_shared_config_ranges(const char* family, const Config& c) {
  const auto within = [](int64_t v, int64_t most) { return v > 0 && v <= most; };
  FLUXION_CHECK(within(c.input_size, 16384) && within(c.patch_size, c.input_size), family, " config: input_size ",
                c.input_size, " and patch_size ", c.patch_size, " must satisfy 0 < patch_size <= input_size <= 16384");
  FLUXION_CHECK(within(c.hidden_size, 65536) && within(c.num_heads, c.hidden_size), family, " config: hidden_size ",
                c.hidden_size, " and num_heads ", c.num_heads, " must satisfy 0 < num_heads <= hidden_size <= 65536");
  FLUXION_CHECK(within(c.depth, 1024) && within(c.in_channels, 1024) && within(c.num_classes, int64_t(1) << 24), family,
                " config: depth ", c.depth, ", in_channels ", c.in_channels, " and num_classes ", c.num_classes,
                " must be positive (at most 1024, 1024 and 2^24)");
  FLUXION_CHECK(c.mlp_ratio > 0 && c.mlp_ratio <= 64, family, " config: mlp_ratio ", c.mlp_ratio,
                " must be in (0, 64]");
}

// A probability field (dropout) in [0, 1].
inline void check_probability(const char* family, const char* key, double p) {
  FLUXION_CHECK(p >= 0 && p <= 1, family, " config: ", key, " ", p, " must be in [0, 1]");
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
