// Choosing an objective (objectives/objective_config.h) and what an Objective gives: the factory,
// the JSON form stored in checkpoints, the objective of a checkpoint, and the sampler of each
// family completed from training, refusing a sampler of the other family with one line.
#include <catch2/catch.hpp>

#include "core/error.h"
#include "core/rng.h"
#include "objectives/dale_prior.h"
#include "objectives/dale_sampling.h"
#include "objectives/flow_sampling.h"
#include "objectives/objective_config.h"
#include "test_helpers.h"

using namespace fluxion;

namespace {
// A velocity-like field of (x, t, y) that every sampler can integrate.
torch::Tensor toy_model(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& y) {
  return -0.5 * x + samplers::Path::expand_t_like(t, x) * 0.1 +
         samplers::Path::expand_t_like(y.to(x.dtype()), x) * 0.01;
}
}  // namespace

TEST_CASE("make_objective builds the objective the config names and refuses others by name", "[unit][objective]") {
  objectives::ObjectiveConfig config;
  CHECK(objectives::make_objective(config, 10)->name() == "flow");
  CHECK(objectives::make_objective(config, 10)->describe().rfind("flow matching: linear path, velocity", 0) == 0);
  config.name = "dale";
  CHECK(objectives::make_objective(config, 10)->name() == "dale");
  CHECK(objectives::make_objective(config, 10)->describe().rfind("Dale-Langevin M-DSM: sigma 0.8", 0) == 0);
  config.name = "diffusion";
  test::expect_one_line_error([&] { objectives::make_objective(config, 10); }, {"unknown objective 'diffusion'"});
  test::expect_one_line_error([&] { config.validate(); }, {"unknown objective 'diffusion'", "flow, dale"});
  config.name = "flow";
  config.dale.weighting = "l1";  // both settings are checked, whichever is chosen
  test::expect_one_line_error([&] { config.validate(); }, {"weighting 'l1'"});
}

TEST_CASE("the objective keys of a training config round-trip beside the others", "[unit][objective]") {
  objectives::ObjectiveConfig config;
  config.name = "dale";
  config.flow.prediction = "noise";
  config.dale.sigma = 0.5;
  nlohmann::json j{{"steps", 7}};
  objectives::add_objective_json(j, config);
  CHECK(j.at("steps") == 7);
  CHECK(j.at("objective") == "dale");
  CHECK(j.at("flow").at("prediction") == "noise");
  CHECK(j.at("dale").at("sigma") == 0.5);
  const auto back = objectives::objective_config_from_json(j);
  CHECK(back.name == "dale");
  CHECK(back.flow.prediction == "noise");
  CHECK(back.dale.sigma == 0.5);
  CHECK(back.dale.input == "log");
  // Nothing recorded: the defaults; a "dale" object from before input/output existed: the authors'.
  CHECK(objectives::objective_config_from_json(nlohmann::json::object()).name == "flow");
  const auto old =
      objectives::objective_config_from_json(nlohmann::json{{"objective", "dale"}, {"dale", {{"sigma", 0.8}}}});
  CHECK(old.dale.input == "linear");
  CHECK(old.dale.output == "score");
  CHECK(old.dale.weighting == "sigma2t");
  test::expect_one_line_error(
      [] {
        objectives::objective_config_from_json(nlohmann::json{{"flow", {{"t0", "early"}}}});
      },
      {"training config"});
}

TEST_CASE("a checkpoint's objective comes with its state, and official weights record none", "[unit][objective]") {
  objectives::ModelWeights official;
  CHECK(objectives::load_objective(official, 10) == nullptr);
  objectives::ModelWeights dale;
  dale.train_config = R"({"objective": "dale", "steps": 3})";
  dale.objective = {{"prior_mean", torch::zeros({1}, torch::kDouble)}, {"prior_std", torch::ones({1}, torch::kDouble)}};
  const auto objective = objectives::load_objective(dale, 10);
  REQUIRE(objective != nullptr);
  CHECK(objective->name() == "dale");
  CHECK(objective->state().size() == 2);
  CHECK(torch::equal(objective->state().at("prior_std"), dale.objective.at("prior_std")));
  objectives::ModelWeights flow;
  flow.train_config = R"({"steps": 3})";
  flow.objective = dale.objective;  // a flow objective holds no state
  CHECK(objectives::load_objective(flow, 10)->state().empty());
}

TEST_CASE("a flow objective's sampler is completed from its training and refuses Dale samplers", "[unit][objective]") {
  objectives::FlowConfig noise;
  noise.prediction = "noise";
  samplers::SamplerConfig base;
  base.name = "heun";
  base.steps = 4;
  auto completed = objectives::sampler_for_flow(noise, base);
  CHECK(completed.prediction == "noise");
  CHECK(completed.start_eps == 1e-3);  // SiT's sample eps for noise predictions
  CHECK(completed.end_eps == 1e-3);
  objectives::FlowConfig vp;
  vp.path = "vp";
  base.end_eps = 0.01;  // further in than SiT's: kept
  completed = objectives::sampler_for_flow(vp, base);
  CHECK(completed.start_eps == 0.0);
  CHECK(completed.end_eps == 0.01);
  objectives::FlowConfig jit;
  jit.prediction = "x";
  CHECK(objectives::sampler_for_flow(jit, base).t_eps == jit.x_pred_t_eps);

  // The objective's sampler is that completion, parsed once, with its null label.
  const objectives::FlowObjective objective(noise, 10);
  objectives::SamplingRequest request;
  request.sampler = base;
  request.sampler.end_eps = 0.0;
  request.sampler.cfg_scale = 2.0;
  const auto sampler = objective.sampler(request);
  CHECK(sampler->describe() == "heun, 4 steps, 8 NFE, cfg 2 (2x batch per NFE)");
  auto expected_config = objectives::sampler_for_flow(noise, request.sampler);
  expected_config.null_label = 10;
  const auto labels = torch::tensor({0, 3}, torch::kLong);
  const auto z = torch::linspace(-1, 1, 8).view({2, 1, 2, 2});
  auto gen_a = core::make_generator(1), gen_b = core::make_generator(1);
  const auto got = sampler->sample(toy_model, labels, z, gen_a);
  const auto want = samplers::sample(samplers::parse_sampler(expected_config), toy_model, labels, z, gen_b);
  CHECK(got.nfe == 8);
  CHECK(torch::equal(got.x, want.x));
  // --path / --prediction given by the caller win over the trained ones.
  request.prediction_given = true;
  request.sampler.prediction = "velocity";
  CHECK(objectives::sampler_for_flow(noise, request.sampler).prediction == "noise");
  auto gen_c = core::make_generator(1), gen_d = core::make_generator(1);
  expected_config.prediction = "velocity";
  CHECK(torch::equal(objective.sampler(request)->sample(toy_model, labels, z, gen_c).x,
                     samplers::sample(samplers::parse_sampler(expected_config), toy_model, labels, z, gen_d).x));

  request.sampler.name = "dls";
  request.source = "runs/r1/last.safetensors";
  test::expect_one_line_error([&] { objective.sampler(request); },
                              {"--sampler dls is a multiplicative", "runs/r1/last.safetensors holds a flow model"});
  test::expect_one_line_error([&] { objectives::flow_sampler(request, 10); }, {"holds a flow model"});
  CHECK(objective.preview_sampler(base).name == "heun");
}

TEST_CASE("a Dale objective samples from its priors and refuses flow samplers and missing priors",
          "[unit][objective]") {
  objectives::DaleConfig dale;
  objectives::DaleObjective objective(dale, 3);
  auto x = torch::rand({6, 1, 2, 2}) * 2 - 1;
  auto priors = objectives::fit_dale_priors(x, torch::tensor({0, 1, 2, 0, 1, 2}, torch::kLong), 3, dale);
  objectives::SamplingRequest request;
  request.sampler.name = "heun";
  request.source = "dale.safetensors";
  test::expect_one_line_error([&] { objective.sampler(request); },
                              {"dale.safetensors holds a Dale", "--sampler dls or --sampler ums"});
  request.sampler.name = "dls";
  test::expect_one_line_error([&] { objective.sampler(request); }, {"dale.safetensors: Dale checkpoint lacks"});
  objective.load_state(priors);
  CHECK(objective.state().size() == 4);
  request.sampler.level_stride = 100;
  request.prior = "channel";
  const auto sampler = objective.sampler(request);
  CHECK(sampler->describe() ==
        "dls, 1000 levels every 100 x 1, delta 0.1, anneal 1, 0 final steps, 10 NFE, channel prior");
  const auto labels = torch::tensor({0, 2}, torch::kLong);
  const auto z = torch::randn({2, 1, 2, 2});
  auto gen_a = core::make_generator(5), gen_b = core::make_generator(5);
  const auto got = sampler->sample(toy_model, labels, z, gen_a);
  const auto spec = samplers::parse_sampler(objectives::sampler_for_dale(dale, request.sampler));
  const auto want = objectives::sample_dale(spec, dale, toy_model, labels, priors, "channel", z, gen_b);
  CHECK(got.nfe == 10);
  CHECK(torch::equal(got.x, want.x));
  CHECK(got.x.min().item<double>() >= -1.0);
  CHECK(got.x.max().item<double>() <= 1.0);
  // Progress grids name a flow solver; a Dale run's grids use DLS with the grid's level stride.
  samplers::SamplerConfig grid;
  grid.name = "heun";
  grid.level_stride = 10;
  const auto preview = objective.preview_sampler(grid);
  CHECK(preview.name == "dls");
  CHECK(preview.level_stride == 10);
}
