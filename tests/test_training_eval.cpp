// `fluxion train --eval-every` (train/training_eval.h), end to end: the FD logged during training
// is the one `fluxion sample --seed 0 --batch 250` + `fluxion eval` give for that step's
// checkpoint, the report plots it and the peak memory, and a resumed run reuses the cached
// reference statistics.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/image_io.h"
#include "test_helpers.h"

using namespace fluxion;
namespace fs = std::filesystem;

namespace {
// metrics.jsonl's lines
std::vector<nlohmann::json> read_metrics(const std::string& run) {
  std::vector<nlohmann::json> rows;
  std::ifstream in(run + "/metrics.jsonl");
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) rows.push_back(nlohmann::json::parse(line));
  return rows;
}

double printed_fd(const std::string& output) {
  const auto at = output.find("FD ");
  REQUIRE(at != std::string::npos);
  return std::stod(output.substr(output.find_first_not_of(' ', at + 2)));
}
}  // namespace

TEST_CASE("train --eval-every logs the FD that sample + eval give for the step's checkpoint", "[e2e][train]") {
  const auto dir = test::scratch_dir("training_eval");
  // A small reference folder keeps the reference statistics fast.
  fs::create_directories(dir + "/ref");
  auto gen = at::detail::createCPUGenerator(11);
  for (int i = 0; i < 20; ++i)
    core::write_png(dir + "/ref/" + std::to_string(100 + i) + ".png",
                    torch::randint(0, 256, {1, 28, 28}, gen, torch::kUInt8));
  const std::string run = dir + "/run";
  const std::string base =
      "train --model SiT-T/4 --batch 8 --device cpu --data-threads 1 --log-every 5 --grid-images 0 "
      "--grid-steps 2 --eval-every 5 --eval-samples 12 --eval-features fmnist --eval-ref " +
      dir + "/ref --out " + run;
  auto first = test::run_fluxion(base + " --steps 10 --ckpt-every 5 --keep-checkpoints 0");
  INFO(first.output);
  REQUIRE(first.exit_code == 0);
  CHECK(first.output.find("evaluation reference:") != std::string::npos);

  std::map<int64_t, double> fd;
  bool memory = false;
  for (const auto& row : read_metrics(run)) {
    if (row.contains("eval")) fd[row["step"].get<int64_t>()] = row["eval"]["fd (fmnist, 12 samples)"].get<double>();
    if (row.contains("memory_mb")) memory = row["memory_mb"].get<double>() > 0;
  }
  REQUIRE(fd.size() == 2);
  REQUIRE(fd.count(5));
  REQUIRE(fd.count(10));
  CHECK(std::isfinite(fd[5]));
  CHECK(fd[5] > 0);
  CHECK(fd[5] != fd[10]);  // the weights changed between the evaluations
  CHECK(memory);

  // The same images from the step-5 checkpoint through the user's commands.
  auto sampled = test::run_fluxion("sample --ckpt " + run +
                                   "/checkpoints/step-0000005.safetensors --n 12 --seed 0 "
                                   "--batch 250 --sampler heun --steps 2 --device cpu --npz " +
                                   dir + "/s.npz");
  INFO(sampled.output);
  REQUIRE(sampled.exit_code == 0);
  auto evaluated =
      test::run_fluxion("eval --samples " + dir + "/s.npz --ref " + dir + "/ref --features fmnist --device cpu");
  INFO(evaluated.output);
  REQUIRE(evaluated.exit_code == 0);
  CHECK(std::abs(printed_fd(evaluated.output) - fd[5]) < 1e-3 * fd[5]);

  const auto html = test::read_bytes(run + "/report.html");
  CHECK(html.find("Evaluation: fd (fmnist, 12 samples)") != std::string::npos);
  CHECK(html.find("Memory") != std::string::npos);

  // A resumed run evaluates on, against the cached reference statistics.
  auto resumed = test::run_fluxion(base + " --steps 15 --resume");
  INFO(resumed.output);
  REQUIRE(resumed.exit_code == 0);
  CHECK(resumed.output.find("evaluation reference:") == std::string::npos);
  int evaluations = 0;
  for (const auto& row : read_metrics(run)) evaluations += row.contains("eval") ? 1 : 0;
  CHECK(evaluations == 3);

  auto bad = test::run_fluxion("train --steps 1 --eval-every 1 --eval-samples 1 --device cpu --out " + dir + "/bad");
  CHECK(bad.exit_code != 0);
  CHECK(bad.output.find("--eval-samples must be at least 2") != std::string::npos);
}
