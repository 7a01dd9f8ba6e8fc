#include "core/json_integers.h"

#include "core/error.h"

namespace fluxion::core {

namespace {
void check_object(const nlohmann::json& config, const nlohmann::json& defaults, const std::string& what,
                  const std::string& prefix) {
  if (!config.is_object() || !defaults.is_object()) return;
  for (auto it = config.begin(); it != config.end(); ++it) {
    const auto d = defaults.find(it.key());
    if (d == defaults.end()) continue;
    if (d->is_object()) check_object(*it, *d, what, prefix + it.key() + ".");
    FLUXION_CHECK(!d->is_number_integer() || it->is_number_integer(), what, ": '", prefix, it.key(),
                  "' must be an integer, got ", it->dump());
  }
}
}  // namespace

void check_json_integers(const nlohmann::json& config, const nlohmann::json& defaults, const std::string& what) {
  check_object(config, defaults, what, "");
}

}  // namespace fluxion::core
