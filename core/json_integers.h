#pragma once
// nlohmann's get<int64_t>() casts a floating-point JSON value without a range check: 1e57 read
// into an integer field is undefined behaviour (found by fuzz_config in the training config).
// Configs that read their fields through nlohmann therefore check first that every key whose
// default is an integer holds a JSON integer, with the defaults' own JSON as the schema.
#include <nlohmann/json.hpp>

#include <string>

namespace fluxion::core {

// Throws fluxion::Error "<what>: '<key>' must be an integer, got <value>" for the first key of
// `config` (nested objects included) whose counterpart in `defaults` is an integer and whose
// value is not. Keys `defaults` lacks, and a `config` that is not an object, are left to the reader.
void check_json_integers(const nlohmann::json& config, const nlohmann::json& defaults, const std::string& what);

}  // namespace fluxion::core
