#include "objectives/objective_config.h"

#include "core/error.h"
#include "core/json_integers.h"

namespace fluxion::objectives {

void ObjectiveConfig::validate() const {
  FLUXION_CHECK(name == "flow" || name == "dale", "unknown objective '", name, "' (flow, dale)");
  flow.validate();
  dale.validate();
}

void to_json(nlohmann::json& j, const DaleConfig& c) {
  j["sigma"] = c.sigma;
  j["mu"] = c.mu;
  j["levels"] = c.levels;
  j["horizon"] = c.horizon;
  j["offset"] = c.offset;
  j["weighting"] = c.weighting;
  j["input"] = c.input;
  j["output"] = c.output;
  j["label_dropout"] = c.label_dropout;
}

void from_json(const nlohmann::json& j, DaleConfig& c) {
  // A "dale" object without these keys was written before they existed, by the authors'
  // parameterization.
  DaleConfig defaults;
  defaults.input = "linear";
  defaults.output = "score";
  defaults.weighting = "sigma2t";
  c.sigma = j.value("sigma", defaults.sigma);
  c.mu = j.value("mu", defaults.mu);
  c.levels = j.value("levels", defaults.levels);
  c.horizon = j.value("horizon", defaults.horizon);
  c.offset = j.value("offset", defaults.offset);
  c.weighting = j.value("weighting", defaults.weighting);
  c.input = j.value("input", defaults.input);
  c.output = j.value("output", defaults.output);
  c.label_dropout = j.value("label_dropout", defaults.label_dropout);
}

void add_objective_json(nlohmann::json& j, const ObjectiveConfig& c) {
  j["objective"] = c.name;
  j["flow"] = c.flow;
  j["dale"] = c.dale;
}

ObjectiveConfig objective_config_from_json(const nlohmann::json& j) {
  static const nlohmann::json defaults = [] {
    nlohmann::json d;
    add_objective_json(d, ObjectiveConfig{});
    return d;
  }();
  core::check_json_integers(j, defaults, "training config");
  ObjectiveConfig c;
  try {
    c.name = j.value("objective", c.name);
    c.flow = j.value("flow", c.flow);
    c.dale = j.value("dale", c.dale);
  } catch (const nlohmann::json::exception& e) {
    fail("training config: ", e.what());
  }
  return c;
}

std::unique_ptr<Objective> make_objective(const ObjectiveConfig& config, int64_t null_label) {
  if (config.name == "flow") return std::make_unique<FlowObjective>(config.flow, null_label);
  if (config.name == "dale") return std::make_unique<DaleObjective>(config.dale, null_label);
  fail("unknown objective '", config.name, "' (flow, dale)");
}

std::unique_ptr<Objective> load_objective(const ModelWeights& weights, int64_t null_label) {
  if (weights.train_config.empty()) return nullptr;
  auto objective = make_objective(objective_config_from_json(nlohmann::json::parse(weights.train_config)), null_label);
  objective->load_state(weights.objective);
  return objective;
}

}  // namespace fluxion::objectives
