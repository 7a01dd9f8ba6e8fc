#include "golden_models.h"

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "models/zoo.h"
#include "test_helpers.h"

namespace fluxion::test {

std::optional<GoldenModel> load_golden_model(const std::string& file, const std::string& family) {
  GoldenModel golden;
  golden.path = golden_path(file);
  if (golden.path.empty()) skip_test("../shared/golden/" + file + " absent");
  core::Metadata meta;
  golden.tensors = core::load_safetensors(golden.path, &meta);
  auto config_json = nlohmann::json::parse(meta.at("config"));
  config_json["model"] = family;
  golden.model = models::build_model(models::config_from_json(config_json.dump()));
  golden.model->eval();
  auto weights = core::load_safetensors_prefixed(golden.path, "model.");
  REQUIRE(weights.size() == golden.model->state_dict().size());
  golden.model->load_state(weights, golden.path);
  return golden;
}

}  // namespace fluxion::test
