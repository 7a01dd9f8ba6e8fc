// The training config's JSON form (stored in every checkpoint): round trip, defaults for missing
// keys, the parameterization of Dale checkpoints written before it was recorded, type errors.
#include <catch2/catch.hpp>

#include "core/error.h"
#include "train/train_config.h"

using namespace fluxion;

TEST_CASE("the training config survives its JSON round trip", "[unit][train]") {
  train::TrainConfig c;
  c.model = "SiT-S/2";
  c.objective.name = "dale";
  c.objective.flow.path = "vp";
  c.objective.flow.logit_std = 1.25;
  c.objective.dale.sigma = 0.5;
  c.objective.dale.input = "linear";
  c.objective.dale.output = "score";
  c.objective.dale.weighting = "unit";
  c.steps = 1234;
  c.ema_decays = {0.99, 0.9999};
  c.seed = 18446744073709551615ull;
  c.grid_level_stride = 7;
  const auto json = train::to_json(c);
  const auto back = train::train_config_from_json(json);
  CHECK(train::to_json(back) == json);
  CHECK(back.model == "SiT-S/2");
  CHECK(back.objective.name == "dale");
  CHECK(back.objective.flow.path == "vp");
  CHECK(back.objective.dale.output == "score");
  // The objective's keys sit beside the others, as in checkpoints written before objectives/.
  CHECK(json.at("objective") == "dale");
  CHECK(json.at("flow").at("logit_std") == 1.25);
  CHECK(json.at("dale").at("input") == "linear");
  CHECK(json.at("steps") == 1234);
  CHECK(back.seed == 18446744073709551615ull);
  CHECK(back.ema_decays == std::vector<double>{0.99, 0.9999});
}

TEST_CASE("missing keys keep the defaults, and old Dale configs keep the authors' parameterization", "[unit][train]") {
  const train::TrainConfig defaults;
  auto partial = train::train_config_from_json(nlohmann::json{{"steps", 10}, {"flow", {{"path", "gvp"}}}});
  CHECK(partial.steps == 10);
  CHECK(partial.objective.flow.path == "gvp");
  CHECK(partial.objective.flow.prediction == defaults.objective.flow.prediction);
  CHECK(partial.batch == defaults.batch);
  CHECK(partial.objective.dale.input == "log");
  CHECK(partial.objective.dale.output == "noise");

  auto old_dale = train::train_config_from_json(
      nlohmann::json{{"objective", "dale"}, {"dale", {{"sigma", 0.8}, {"levels", 1000}}}});
  CHECK(old_dale.objective.name == "dale");
  CHECK(old_dale.objective.dale.input == "linear");
  CHECK(old_dale.objective.dale.output == "score");
  CHECK(old_dale.objective.dale.weighting == "sigma2t");
}

TEST_CASE("a mistyped training config names the problem", "[unit][train]") {
  CHECK_THROWS_WITH(train::train_config_from_json(nlohmann::json{{"steps", "many"}}),
                    Catch::Contains("training config"));
}

TEST_CASE("integer fields holding floating-point numbers are refused (fuzz_config finding)", "[unit][train]") {
  // nlohmann's get<int64_t>() cast 1e57 to int64 unchecked: undefined behaviour (UBSan)
  const auto fuzzed =
      nlohmann::json::parse(R"({"ckpt_every":1000222222222222222222222222222222222222222222222222222222})");
  REQUIRE(fuzzed["ckpt_every"].is_number_float());
  CHECK_THROWS_WITH(train::train_config_from_json(fuzzed),
                    Catch::Contains("training config: 'ckpt_every' must be an integer, got 1.000222"));
  CHECK_THROWS_AS(train::train_config_from_json(nlohmann::json::parse(R"({"steps": 2.5})")), Error);
  CHECK_THROWS_WITH(train::train_config_from_json(nlohmann::json::parse(R"({"dale": {"levels": 1e300}})")),
                    Catch::Contains("'dale.levels' must be an integer"));
  // doubles may be written as integers
  CHECK(train::train_config_from_json(nlohmann::json::parse(R"({"lr": 1, "steps": 7})")).lr == 1.0);
}
