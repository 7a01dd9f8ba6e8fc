// End-to-end: the CLI trains a tiny model on the real Fashion-MNIST, resumes exactly after an
// interruption, survives SIGKILL, and refuses bad options with one line.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/image_io.h"
#include "core/safetensors.h"
#include "test_helpers.h"

using namespace fluxion;

namespace {
const std::string kTiny =
    " train --model SiT-T/4 --batch 16 --warmup 5 --lr 1e-3 --device cpu --data-threads 2"
    " --grid-images 4 --grid-steps 2 --log-every 5 ";

int64_t checkpoint_step(const std::string& path) {
  return core::load_safetensors(path).at("trainer.step").item<int64_t>();
}

// Each logged step once, in order (a resumed run drops the lines past its checkpoint).
void check_steps_increase(const std::vector<nlohmann::json>& metrics) {
  for (size_t i = 1; i < metrics.size(); ++i)
    CHECK(metrics[i]["step"].get<int64_t>() > metrics[i - 1]["step"].get<int64_t>());
}
}  // namespace

TEST_CASE("fluxion train trains a tiny model on Fashion-MNIST and the loss falls", "[e2e][train]") {
  const auto run = test::scratch_dir("train_loss_falls");
  auto r = test::run_fluxion(kTiny + "--steps 60 --ckpt-every 30 --sample-every 60 --out " + run);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const auto metrics = test::read_metrics(run);
  REQUIRE(metrics.size() == 12);
  const double first = metrics.front()["loss"], last = metrics.back()["loss"];
  CHECK(last < 0.75 * first);
  CHECK(metrics.back()["images_per_s"].get<double>() > 0);
  for (const char* f : {"/config.toml", "/config.json", "/report.html", "/samples/step-0000060.png",
                        "/checkpoints/step-0000030.safetensors", "/checkpoints/step-0000060.safetensors",
                        "/checkpoints/last.safetensors"})
    REQUIRE(std::filesystem::exists(run + f));
  CHECK(checkpoint_step(run + "/checkpoints/step-0000030.safetensors") == 30);
  test::require_same_tensors(run + "/checkpoints/last.safetensors", run + "/checkpoints/step-0000060.safetensors");
  // the sample grid holds images, not a flat fill
  const auto grid = core::read_image(run + "/samples/step-0000060.png").to(torch::kFloat);
  CHECK(grid.size(1) * grid.size(2) >= 4 * 32 * 32);  // --grid-images 4
  CHECK(grid.std().item<double>() > 10);
  // The resolved config fed back in resolves to the same config (all but the length and place).
  std::filesystem::remove_all(run + "_again");
  auto again = test::run_fluxion("train --config " + run + "/config.toml --steps 1 --out " + run + "_again");
  INFO(again.output);
  CHECK(again.exit_code == 0);
  auto resolved = [](const std::string& dir) {
    auto j = nlohmann::json::parse(test::read_bytes(dir + "/config.json"));
    j.erase("out");
    j.erase("steps");
    return j;
  };
  CHECK(resolved(run + "_again") == resolved(run));
  // A finished run refuses to be overwritten.
  auto overwrite = test::run_fluxion(kTiny + "--steps 2 --out " + run);
  CHECK(overwrite.exit_code != 0);
  CHECK(overwrite.output.find("--resume") != std::string::npos);
}

TEST_CASE("an interrupted and resumed run ends with the same weights as an uninterrupted one", "[e2e][train]") {
  const auto straight = test::scratch_dir("train_straight");
  const auto split = test::scratch_dir("train_split");
  const std::string common = kTiny + "--ckpt-every 10 --sample-every 1000 ";
  REQUIRE(test::run_fluxion(common + "--steps 20 --out " + straight).exit_code == 0);
  REQUIRE(test::run_fluxion(common + "--steps 10 --out " + split).exit_code == 0);
  auto resumed = test::run_fluxion("train --resume --steps 20 --device cpu --out " + split);
  INFO(resumed.output);
  REQUIRE(resumed.exit_code == 0);
  test::require_same_tensors(straight + "/checkpoints/last.safetensors", split + "/checkpoints/last.safetensors");
  // The log holds each step once.
  CHECK(test::read_metrics(split).size() == test::read_metrics(straight).size());
  check_steps_increase(test::read_metrics(split));
  // The clock goes on across the resume: elapsed_s never falls.
  const auto lines = test::read_metrics(split);
  for (size_t i = 1; i < lines.size(); ++i)
    CHECK(lines[i]["elapsed_s"].get<double>() >= lines[i - 1]["elapsed_s"].get<double>());
}

TEST_CASE("a run killed with SIGKILL leaves a loadable checkpoint and resumes", "[e2e][train]") {
  const auto dir = test::scratch_dir("train_killed");
  const auto run = dir + "/run";
  const std::string last = run + "/checkpoints/last.safetensors";
  // Killed once its first checkpoint exists (and a moment later, so that the kill lands in a later
  // step or checkpoint write), not after a fixed delay: on a busy machine a fixed 12 s could pass
  // before the first checkpoint. The wait gives up after 10 minutes or when the run ends itself.
  test::write_bytes(dir + "/kill.sh", std::string("\"") + FLUXION_BINARY + "\" " + kTiny +
                                          "--steps 100000 --ckpt-every 3 --sample-every 100000 --out " + run + " >" +
                                          dir +
                                          "/log 2>&1 &\n"
                                          "P=$!\n"
                                          "for i in $(seq 6000); do [ -e " +
                                          last +
                                          " ] && break; kill -0 $P 2>/dev/null || break; sleep 0.1; done\n"
                                          "sleep 0.5\n"
                                          "kill -KILL $P\n"
                                          "wait $P; echo \"exit status $?\"\n");
  auto killed = test::run_shell("bash " + dir + "/kill.sh");
  INFO(killed.output << test::read_bytes(dir + "/log"));
  CHECK(killed.output.find("exit status 137") != std::string::npos);  // 128 + SIGKILL: it was still running
  REQUIRE(std::filesystem::exists(last));
  auto tensors = core::load_safetensors(last);
  const int64_t step = tensors.at("trainer.step").item<int64_t>();
  CHECK(step >= 3);
  auto resumed = test::run_fluxion("train --resume --device cpu --steps " + std::to_string(step + 2) + " --out " + run);
  INFO(resumed.output);
  REQUIRE(resumed.exit_code == 0);
  CHECK(checkpoint_step(last) == step + 2);
  check_steps_increase(test::read_metrics(run));
}

TEST_CASE("fluxion train refuses bad options with one clear line", "[e2e][train]") {
  const auto run = test::scratch_dir("train_bad");
  auto missing = test::run_fluxion("train --data /nonexistent/images --steps 1 --out " + run + "/a");
  CHECK(missing.exit_code != 0);
  CHECK(missing.output.find("/nonexistent/images") != std::string::npos);
  auto model = test::run_fluxion("train --model SiT-Q/3 --steps 1 --out " + run + "/b");
  CHECK(model.exit_code != 0);
  CHECK(model.output.find("SiT-Q/3") != std::string::npos);
  CHECK(model.output.find("SiT-XL/2") != std::string::npos);  // the zoo is listed
  auto steps = test::run_fluxion("train --steps 0 --out " + run + "/c");
  CHECK(steps.exit_code != 0);
  CHECK(steps.output.find("--steps") != std::string::npos);
  auto resume = test::run_fluxion("train --resume --out " + run + "/nothing");
  CHECK(resume.exit_code != 0);
  CHECK(resume.output.find("nothing to resume") != std::string::npos);
}

TEST_CASE("train --config applies the file, the command line overrides it, bad files fail", "[e2e][train]") {
  // CLI11 2.1 ignores set_config on subcommands: this run used to train with the defaults.
  const auto dir = test::scratch_dir("train_config_file");
  test::write_bytes(dir + "/recipe.toml",
                    "lr = 0.0001\nwarmup = 0\ngrad-clip = 0.0\nema = [0.9999, 0.99]\nbatch = 4\n"
                    "model = \"SiT-T/4\"\ntime-sampling = \"logit-normal\"\n");
  auto r = test::run_fluxion("train --config " + dir +
                             "/recipe.toml --batch 8 --steps 1 --device cpu --grid-images 2 "
                             "--grid-steps 1 --out " +
                             dir + "/run");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  auto config = nlohmann::json::parse(test::read_bytes(dir + "/run/config.json"));
  CHECK(config["lr"].get<double>() == 1e-4);
  CHECK(config["warmup"].get<int64_t>() == 0);
  CHECK(config["grad_clip"].get<double>() == 0.0);
  CHECK(config["ema_decays"] == nlohmann::json::array({0.9999, 0.99}));
  CHECK(config["flow"]["time_sampling"] == "logit-normal");
  CHECK(config["batch"].get<int64_t>() == 8);  // the command line wins
  // ... and the run used them, not just wrote them down: the logged rate is the file's (no
  // warmup), 8 examples were consumed, and the second EMA exists. After one update from a copy
  // of w0, ema_d = d w0 + (1 - d) w1, so ema - ema1 = -(0.9999 - 0.99) / 0.99 (w1 - ema1).
  const auto metrics = test::read_metrics(dir + "/run");
  REQUIRE(metrics.size() == 1);
  CHECK(metrics[0]["lr"].get<double>() == Approx(1e-4).epsilon(1e-9));
  const auto ckpt = core::load_safetensors(dir + "/run/checkpoints/last.safetensors");
  CHECK(ckpt.at("trainer.data_position").item<int64_t>() == 8);
  double cross = 0, norm = 0;
  for (const auto& [name, w] : ckpt) {
    if (!ckpt.count("ema1." + name)) continue;
    auto to_ema1 = (w - ckpt.at("ema1." + name)).to(torch::kDouble);
    cross += ((ckpt.at("ema." + name) - ckpt.at("ema1." + name)).to(torch::kDouble) * to_ema1).sum().item<double>();
    norm += to_ema1.pow(2).sum().item<double>();
  }
  REQUIRE(norm > 0);
  CHECK(cross / norm == Approx(-(0.9999 - 0.99) / 0.99).epsilon(0.02));
  for (const auto& [text, fragment] : std::vector<std::pair<std::string, std::string>>{
           {"lrr = 0.5\n", "unknown option 'lrr'"}, {"lr = \"fast\"\n", "option 'lr'"}}) {
    test::write_bytes(dir + "/bad.toml", text);
    auto bad = test::run_fluxion("train --config " + dir + "/bad.toml --steps 1 --device cpu --out " + dir + "/bad");
    INFO(bad.output);
    CHECK(bad.exit_code != 0);
    CHECK(bad.output.find(fragment) != std::string::npos);
    CHECK(bad.output.find("bad.toml") != std::string::npos);
    CHECK(!std::filesystem::exists(dir + "/bad"));
  }
  auto missing = test::run_fluxion("train --config " + dir + "/none.toml --steps 1 --device cpu --out " + dir + "/bad");
  CHECK(missing.exit_code != 0);
  CHECK(missing.output.find("config file not found") != std::string::npos);
}

TEST_CASE("the fmnist-300s recipe file drives train and sample from their own sections", "[e2e][train]") {
  // train/configs/fmnist-300s.toml holds a [train] and a [sample] section: each command reads its
  // own and leaves the other's keys (steps, batch) alone. Shortened here by the command line.
  const auto dir = test::scratch_dir("recipe_sections");
  const std::string recipe = std::string(FLUXION_SOURCE_DIR) + "/train/configs/fmnist-300s.toml";
  auto train = test::run_fluxion("train --config " + recipe +
                                 " --steps 2 --batch 4 --warmup 1 --device cpu "
                                 "--grid-images 2 --grid-steps 1 --out " +
                                 dir + "/run");
  INFO(train.output);
  REQUIRE(train.exit_code == 0);
  auto config = nlohmann::json::parse(test::read_bytes(dir + "/run/config.json"));
  CHECK(config["model"] == "SiT-T/4");
  CHECK(config["lr"].get<double>() == 1e-3);
  CHECK(config["lr_schedule"] == "cosine");
  CHECK(config["grad_clip"].get<double>() == 1.0);
  CHECK(config["ema_decays"] == nlohmann::json::array({0.999}));
  CHECK(config["flow"]["time_sampling"] == "logit-normal");
  CHECK(config["flow"]["logit_mean"].get<double>() == 0.0);
  CHECK(config["flow"]["logit_std"].get<double>() == 1.0);
  CHECK(config["steps"].get<int64_t>() == 2);  // the command line wins over [train] steps = 20214
  CHECK(config["batch"].get<int64_t>() == 4);

  auto sample = test::run_fluxion("sample --config " + recipe + " --ckpt " + dir +
                                  "/run/checkpoints/last.safetensors --n 3 --device cpu --npz " + dir + "/s.npz");
  INFO(sample.output);
  REQUIRE(sample.exit_code == 0);
  // [sample] says Heun, 25 steps (2 evaluations each) and guidance 1.25 (the defaults: Euler 50, none).
  CHECK(sample.output.find("with heun, 25 steps, 50 NFE, cfg 1.25") != std::string::npos);

  // The default job's recipe (tools/run_default.sh) reads the same way.
  auto cpu =
      test::run_fluxion("train --config " + std::string(FLUXION_SOURCE_DIR) +
                        "/train/configs/fmnist-cpu.toml --steps 1 --device cpu --grid-images 0 --out " + dir + "/cpu");
  INFO(cpu.output);
  REQUIRE(cpu.exit_code == 0);
  auto cpu_config = nlohmann::json::parse(test::read_bytes(dir + "/cpu/config.json"));
  CHECK(cpu_config["image_size"].get<int64_t>() == 28);
  CHECK(cpu_config["batch"].get<int64_t>() == 16);
  CHECK(cpu_config["flow"]["time_sampling"] == "logit-normal");

  // A section naming no fluxion command is still an error.
  test::write_bytes(dir + "/typo.toml", "[trian]\nlr = 0.1\n");
  auto typo = test::run_fluxion("train --config " + dir + "/typo.toml --steps 1 --device cpu --out " + dir + "/bad");
  CHECK(typo.exit_code != 0);
  CHECK(typo.output.find("section [trian]") != std::string::npos);
}
