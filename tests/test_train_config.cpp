// The training config's JSON form (stored in every checkpoint): round trip, defaults for missing
// keys, the parameterization of Dale checkpoints written before it was recorded, type errors.
#include <catch2/catch.hpp>

#include "core/error.h"
#include "train/train_config.h"

using namespace fluxion;

TEST_CASE("the training config survives its JSON round trip", "[unit][train]") {
  train::TrainConfig c;
  c.model = "SiT-S/2";
  c.objective = "dale";
  c.flow.path = "vp";
  c.flow.logit_std = 1.25;
  c.dale.sigma = 0.5;
  c.dale.input = "linear";
  c.dale.output = "score";
  c.dale.weighting = "unit";
  c.steps = 1234;
  c.ema_decays = {0.99, 0.9999};
  c.seed = 18446744073709551615ull;
  c.grid_level_stride = 7;
  const auto json = train::to_json(c);
  const auto back = train::train_config_from_json(json);
  CHECK(train::to_json(back) == json);
  CHECK(back.model == "SiT-S/2");
  CHECK(back.flow.path == "vp");
  CHECK(back.dale.output == "score");
  CHECK(back.seed == 18446744073709551615ull);
  CHECK(back.ema_decays == std::vector<double>{0.99, 0.9999});
}

TEST_CASE("missing keys keep the defaults, and old Dale configs keep the authors' parameterization",
          "[unit][train]") {
  const train::TrainConfig defaults;
  auto partial = train::train_config_from_json(nlohmann::json{{"steps", 10}, {"flow", {{"path", "gvp"}}}});
  CHECK(partial.steps == 10);
  CHECK(partial.flow.path == "gvp");
  CHECK(partial.flow.prediction == defaults.flow.prediction);
  CHECK(partial.batch == defaults.batch);
  CHECK(partial.dale.input == "log");
  CHECK(partial.dale.output == "noise");

  auto old_dale = train::train_config_from_json(
      nlohmann::json{{"objective", "dale"}, {"dale", {{"sigma", 0.8}, {"levels", 1000}}}});
  CHECK(old_dale.dale.input == "linear");
  CHECK(old_dale.dale.output == "score");
  CHECK(old_dale.dale.weighting == "sigma2t");
}

TEST_CASE("a mistyped training config names the problem", "[unit][train]") {
  CHECK_THROWS_WITH(train::train_config_from_json(nlohmann::json{{"steps", "many"}}),
                    Catch::Contains("training config"));
}
