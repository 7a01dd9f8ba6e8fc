// The checkpoint format (objectives/checkpoint.h): a training checkpoint round-trips, sampling
// reads its EMA (or live) weights and objective state by prefix, and a converted official file
// (plain safetensors) is read as live weights but refused for resuming.
#include <catch2/catch.hpp>

#include "core/error.h"
#include "objectives/checkpoint.h"
#include "test_helpers.h"

using namespace fluxion;

TEST_CASE("a training checkpoint round-trips and sampling reads its weights by prefix", "[unit][checkpoint]") {
  const auto dir = test::scratch_dir("checkpoint_format");
  objectives::Checkpoint c;
  c.model = {{"w", torch::tensor({1.0f, 2.0f})}};
  c.emas = {{{"w", torch::tensor({3.0f, 4.0f})}}, {{"w", torch::tensor({5.0f, 6.0f})}}};
  c.ema_decays = {0.99, 0.999};
  c.optimizer = {{"exp_avg.w", torch::tensor({7.0f, 8.0f})}};
  c.objective = {{"prior_mean", torch::tensor({0.5}, torch::kDouble)}};
  c.step = 12;
  c.data_position = 34;
  c.model_config = "{\"name\":\"SiT-T/4\"}";
  c.train_config = "{\"objective\":\"dale\"}";
  const auto path = dir + "/c.safetensors";
  objectives::save_checkpoint(path, c);

  CHECK(core::read_safetensors_header(path).metadata.at("format") == "fluxion-checkpoint-1");
  const auto back = objectives::load_checkpoint(path);
  CHECK(torch::equal(back.model.at("w"), c.model.at("w")));
  REQUIRE(back.emas.size() == 2);
  CHECK(torch::equal(back.emas[1].at("w"), c.emas[1].at("w")));
  CHECK(back.ema_decays == c.ema_decays);
  CHECK(torch::equal(back.optimizer.at("exp_avg.w"), c.optimizer.at("exp_avg.w")));
  CHECK(torch::equal(back.objective.at("prior_mean"), c.objective.at("prior_mean")));
  CHECK(back.step == 12);
  CHECK(back.data_position == 34);
  CHECK(back.model_config == c.model_config);
  CHECK(back.train_config == c.train_config);

  auto ema = objectives::load_model_weights(path);
  CHECK(ema.which == "ema");
  CHECK(ema.weights.size() == 1);
  CHECK(torch::equal(ema.weights.at("w"), c.emas[0].at("w")));
  CHECK(torch::equal(ema.objective.at("prior_mean"), c.objective.at("prior_mean")));
  CHECK(ema.train_config == c.train_config);
  CHECK(torch::equal(objectives::load_model_weights(path, "ema1").weights.at("w"), c.emas[1].at("w")));
  auto live = objectives::load_model_weights(path, "model");
  CHECK(live.weights.size() == 1);  // no ema*, optim.*, trainer.* or objective.* among them
  CHECK(torch::equal(live.weights.at("w"), c.model.at("w")));
  CHECK_THROWS_WITH(objectives::load_model_weights(path, "ema2"), Catch::Contains("prefix 'ema2.'"));
  CHECK(objectives::ema_prefix(0) == "ema");
  CHECK(objectives::ema_prefix(2) == "ema2");
}

TEST_CASE("converted official weights sample as live weights but do not resume", "[unit][checkpoint]") {
  const auto dir = test::scratch_dir("checkpoint_official");
  const auto path = dir + "/official.safetensors";
  core::save_safetensors(path, {{"x_embedder.proj.weight", torch::ones({2, 2})}, {"ema_like", torch::zeros({1})}});
  const auto weights = objectives::load_model_weights(path);
  CHECK(weights.which == "model");
  CHECK(weights.weights.size() == 2);  // nothing is a checkpoint section in a plain file
  CHECK(weights.objective.empty());
  CHECK(weights.train_config.empty());
  test::expect_one_line_error([&] { objectives::load_checkpoint(path); }, {path, "not a fluxion training checkpoint"});
}

TEST_CASE("trainer counters that are not one non-negative I64 are refused (fuzz_checkpoint finding)",
          "[unit][checkpoint]") {
  const auto dir = test::scratch_dir("checkpoint_counters");
  // trainer.data_position stored as F64 1.4e161: item<int64_t>() threw torch's std::runtime_error
  const std::string fuzzed(
      "\x8c\x00\x00\x00\x00\x00\x00\x00{\x22__metadata__\x22:{\x22"
      "ema_decays\x22:\x22[]\x22,\x22"
      "format\x22:\x22"
      "fluxion-checkpoint-1\x22},\x22trainer.data_position\x22:{\x22"
      "dtype\x22"
      ":\x22"
      "F64\x22,\x22shape\x22:[],\x22"
      "data_offsets\x22:[0,8]}}ema_deca",
      156);
  test::write_bytes(dir + "/fuzzed.safetensors", fuzzed);
  test::expect_one_line_error([&] { objectives::load_checkpoint(dir + "/fuzzed.safetensors"); },
                              {dir + "/fuzzed.safetensors", "'trainer.data_position' must be one I64 value", "Double"});
  // the same for a step with several values, and a negative one
  const core::Metadata metadata{{"format", "fluxion-checkpoint-1"}, {"ema_decays", "[]"}};
  core::save_safetensors(dir + "/two.safetensors", {{"trainer.step", torch::tensor({1, 2}, torch::kLong)}}, metadata);
  test::expect_error([&] { objectives::load_checkpoint(dir + "/two.safetensors"); },
                     {"'trainer.step' must be one I64 value", "[2]"});
  core::save_safetensors(dir + "/negative.safetensors", {{"trainer.step", torch::tensor(-3, torch::kLong)}}, metadata);
  test::expect_error([&] { objectives::load_checkpoint(dir + "/negative.safetensors"); },
                     {"'trainer.step' is negative (-3)"});
}
