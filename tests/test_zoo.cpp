#include <catch2/catch.hpp>

#include <cstdlib>
#include <tuple>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/safetensors.h"
#include "models/zoo.h"
#include "test_helpers.h"

using namespace fluxion;

TEST_CASE("zoo parameter counts match the official models", "[unit][zoo]") {
  // Exact counts of the official PyTorch models (frozen pos_embed included).
  CHECK(models::parameter_count(models::zoo_config("SiT-XL/2")) == 675129632);
  CHECK(models::parameter_count(models::zoo_config("SiT-B/2")) == 130512416);
  // Rounded counts from the papers' tables.
  const std::vector<std::pair<std::string, double>> approx = {
      {"SiT-S/2", 33e6},   {"SiT-L/2", 458e6},  {"SiT-XL/8", 675e6}, {"JiT-B/16", 131e6}, {"JiT-B/32", 133e6},
      {"JiT-L/16", 459e6}, {"JiT-L/32", 462e6}, {"JiT-H/16", 953e6}, {"JiT-H/32", 956e6}};
  for (const auto& [name, expected] : approx) {
    INFO(name);
    const double count = static_cast<double>(models::parameter_count(models::zoo_config(name)));
    CHECK(std::abs(count - expected) / expected < 0.01);
  }
  for (const auto& name : models::list_models()) {
    INFO(name);
    CHECK(models::parameter_count(models::zoo_config(name)) > 0);
  }
}

TEST_CASE("the analytic count equals a real construction", "[unit][zoo]") {
  auto b2 = models::zoo_config("SiT-B/2");
  CHECK(models::build_model(b2)->parameter_count() == 130512416);
  for (const std::string attention : {"softmax", "gated", "gated-headwise", "linear"}) {
    for (const std::string name : {"SiT-T/2", "SiT-T/4"}) {
      INFO(name << " " << attention);
      auto config = models::zoo_config(name, {attention, std::nullopt, std::nullopt, std::nullopt});
      CHECK(models::build_model(config)->parameter_count() == models::parameter_count(config));
    }
    INFO("small JiT " << attention);
    auto jit = models::zoo_config("JiT-B/32", {attention, 64, 3, 10});
    auto& c = std::get<models::JiTConfig>(jit.config);
    c.hidden_size = 64, c.num_heads = 4, c.depth = 4, c.bottleneck_dim = 8, c.in_context_len = 3,
    c.in_context_start = 1;
    CHECK(models::build_model(jit)->parameter_count() == models::parameter_count(jit));
  }
}

TEST_CASE("zoo names, overrides and the JSON round trip", "[unit][zoo]") {
  try {
    models::zoo_config("SiT-Q/3");
    FAIL("accepted an unknown name");
  } catch (const Error& e) {
    const std::string what = e.what();
    CHECK(what.find("SiT-Q/3") != std::string::npos);
    CHECK(what.find("SiT-XL/2") != std::string::npos);
    CHECK(what.find("JiT-H/32") != std::string::npos);
  }
  CHECK_THROWS_AS(models::zoo_config("SiT-B/8", {std::nullopt, 30, std::nullopt, std::nullopt}), Error);
  auto config = models::zoo_config("SiT-T/2", {"linear", 28, 1, 10});
  auto back = models::config_from_json(models::config_to_json(config));
  CHECK(back.name == "SiT-T/2");
  CHECK(models::config_to_json(back) == models::config_to_json(config));
  auto model = models::build_model(back);
  CHECK(models::config_from_json(model->config_json()).name.empty());
  CHECK(models::config_to_json(models::config_from_json(model->config_json())) ==
        models::config_to_json(models::ModelConfig{"", back.config}));
  auto jit = models::zoo_config("JiT-L/16");
  CHECK(models::config_to_json(models::config_from_json(models::config_to_json(jit))) == models::config_to_json(jit));
  CHECK_THROWS_AS(models::config_from_json("{\"model\": \"DiT\"}"), Error);
  CHECK_THROWS_AS(models::config_from_json("{\"model\": \"SiT\", \"depth\": \"many\"}"), Error);
}

TEST_CASE("model configs out of range are refused before any arithmetic (fuzz_config finding)", "[unit][zoo]") {
  // num_heads 0: hidden_size % num_heads divided by zero (SIGFPE) while validating
  const std::string fuzzed =
      R"({"attention":"softmax","class_dropout_prob":0.1,"depth":4,"hidden_size":128,"in_class_dropout_prob":0.1,)"
      R"("depth":4,"hidden_size":128,"in_channels":0,"input_size":32,"learn_sigma":false,"mlp_ratio":4.0,)"
      R"("model":"SiT","nachannels":0,"input_size":32,"learn_sigma":false,"mlp_ratio":4.0,"model":"SiT",)"
      R"("name":"SiT-T/4","num_classes":10,"num_heads":0,"patch_size":4})";
  test::expect_error([&] { models::config_from_json(fuzzed); }, {"SiT config", "num_heads 0"});
  // each bound once, on a valid SiT-T/4 and JiT-B/16
  const auto with = [](const std::string& model, const std::string& key, const nlohmann::json& value) {
    auto j = nlohmann::json::parse(models::config_to_json(models::zoo_config(model)));
    j[key] = value;
    return j.dump();
  };
  CHECK_NOTHROW(models::config_from_json(with("SiT-T/4", "num_heads", 4)));
  for (const auto& [key, value, fragment] : std::vector<std::tuple<std::string, nlohmann::json, std::string>>{
           {"hidden_size", -128, "hidden_size -128"},
           {"hidden_size", int64_t(1) << 40, "hidden_size 1099511627776"},
           {"input_size", int64_t(1) << 40, "input_size 1099511627776"},
           {"patch_size", 64, "patch_size 64"},
           {"depth", 100000, "depth 100000"},
           {"in_channels", -1, "in_channels -1"},
           {"num_classes", 0, "num_classes 0"},
           {"mlp_ratio", 1e300, "mlp_ratio"},
           {"class_dropout_prob", 2.5, "class_dropout_prob 2.5"}}) {
    INFO(key << " = " << value.dump());
    test::expect_error([&] { models::config_from_json(with("SiT-T/4", key, value)); }, {"SiT config", fragment});
  }
  // a family that is not a string escaped as nlohmann's type_error (fuzz_config, minimized)
  test::expect_error([&] { models::config_from_json(R"({"model":0.9})"); }, {"model config: 'model' is 0.9"});
  // integers written as floating-point numbers (nlohmann casts them unchecked: 4e30 into int64)
  test::expect_error([&] { models::config_from_json(R"({"model":"SiT","depth":4.0e30})"); },
                     {"field 'depth' has a bad value 4e+30", "integers expected"});
  test::expect_error([&] { models::config_from_json(with("JiT-B/16", "in_context_len", -1)); },
                     {"JiT config", "in_context_len -1"});
  test::expect_error([&] { models::config_from_json(with("JiT-B/16", "attn_drop", -0.5)); },
                     {"JiT config", "attn_drop -0.5"});
}

TEST_CASE("fluxion inspect --model prints the config and parameter count", "[e2e][zoo]") {
  auto ok = test::run_fluxion("inspect --model SiT-XL/2");
  INFO(ok.output);
  CHECK(ok.exit_code == 0);
  CHECK(ok.output.find("675129632") != std::string::npos);
  CHECK(ok.output.find("hidden_size: 1152") != std::string::npos);
  auto linear = test::run_fluxion("inspect --model SiT-T/2 --attention linear --image-size 28 --channels 1");
  INFO(linear.output);
  CHECK(linear.exit_code == 0);
  CHECK(linear.output.find("attention: linear") != std::string::npos);
  CHECK(linear.output.find("input_size: 28") != std::string::npos);
  auto unknown = test::run_fluxion("inspect --model SiT-Q/3");
  INFO(unknown.output);
  CHECK(unknown.exit_code != 0);
  CHECK(unknown.output.find("JiT-B/16") != std::string::npos);
}

TEST_CASE("convert_checkpoint.py turns official .pt checkpoints into loadable safetensors", "[e2e][zoo]") {
  const auto& python = test::python_with("torch");
  if (python.empty()) test::skip_test("no python3 with torch (Debian: python3-torch)");
  const auto dir = test::scratch_dir("convert_checkpoint");
  auto model = models::build_model(models::zoo_config("SiT-T/4"));
  // Names and shapes go to Python, which builds tensors by a formula both sides know.
  const std::string spec = test::shape_spec(model->state_dict());
  test::write_bytes(dir + "/spec.txt", spec);
  const std::string script =
      "import argparse, torch\n"
      "sd = {}\n"
      "for i, line in enumerate(open('" +
      dir +
      "/spec.txt')):\n"
      "    name, n, *shape = line.split()\n"
      "    sd[name] = (torch.arange(int(n), dtype=torch.float32) * 1e-3 + i).reshape([int(s) for s in shape])\n"
      "torch.save(sd, '" +
      dir +
      "/released.pt')\n"
      "# as SiT's train.py saves one: raw and EMA weights, and the argparse arguments\n"
      "torch.save({'model': {k: -v for k, v in sd.items()}, 'ema': sd, 'args': argparse.Namespace(lr=1e-4)},\n"
      "           '" +
      dir + "/training.pt')\n";
  test::write_bytes(dir + "/make.py", script);
  REQUIRE(std::system((python + " " + dir + "/make.py").c_str()) == 0);
  const std::string convert = python + " " + FLUXION_SOURCE_DIR + "/tools/convert_checkpoint.py ";
  auto expect_formula_weights = [&](const core::TensorMap& tensors) {
    model->load_state(tensors, "converted");
    int64_t index = 0;
    for (const auto& [name, tensor] : model->state_dict()) {
      INFO(name);
      auto expected = (torch::arange(tensor.numel(), torch::kFloat) * 1e-3 + index++).reshape(tensor.sizes());
      CHECK(test::max_abs_diff(tensor, expected) == 0);
    }
  };

  // A released checkpoint is the bare state dict, which the safe weights-only load reads.
  REQUIRE(std::system((convert + dir + "/released.pt " + dir + "/released.safetensors").c_str()) == 0);
  core::Metadata released_meta;
  expect_formula_weights(core::load_safetensors(dir + "/released.safetensors", &released_meta));
  CHECK(released_meta.count("source_key") == 0);

  // A training checkpoint pickles an argparse.Namespace too: refused unless the file is trusted.
  const std::string training = convert + dir + "/training.pt " + dir + "/training.safetensors --model SiT-T/4";
  CHECK(std::system((training + " >" + dir + "/refused.txt 2>&1").c_str()) != 0);
  CHECK(test::read_bytes(dir + "/refused.txt").find("--trusted") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir + "/training.safetensors"));
  REQUIRE(std::system((training + " --trusted").c_str()) == 0);
  core::Metadata meta;
  auto tensors = core::load_safetensors(dir + "/training.safetensors", &meta);
  CHECK(meta.at("source_key") == "ema");
  CHECK(meta.at("model") == "SiT-T/4");
  expect_formula_weights(tensors);
  // A checkpoint of another model is refused with the names that do not fit.
  auto other = models::build_model(models::zoo_config("SiT-T/2"));
  CHECK_THROWS_AS(other->load_state(tensors, "training.safetensors"), Error);
}
