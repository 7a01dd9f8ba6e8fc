// Crash safety (issue 18): `fluxion train` SIGKILLed 20 times at random moments, checkpoint writes
// included, resumes each time from a checkpoint that loads, and ends with the weights of a run
// that was never interrupted (CPU, bit for bit).
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <random>

#include "core/safetensors.h"
#include "test_helpers.h"

using namespace fluxion;
namespace fs = std::filesystem;

namespace {
const std::string kRun =
    " train --model SiT-T/4 --batch 16 --warmup 5 --lr 1e-3 --device cpu --data-threads 2 --grid-images 0"
    " --log-every 2 --ckpt-every 2 --sample-every 100000 --steps 120 ";
}  // namespace

TEST_CASE("a run killed 20 times at random moments ends with an uninterrupted run's weights", "[slow]") {
  const auto straight = test::scratch_dir("kill_straight");
  const auto killed = test::scratch_dir("kill_killed");
  const auto started = std::chrono::steady_clock::now();
  auto reference = test::run_fluxion(kRun + "--out " + straight);
  const double straight_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  INFO(reference.output);
  REQUIRE(reference.exit_code == 0);

  const std::string last = killed + "/checkpoints/last.safetensors";
  std::mt19937 rng(12345);
  // Seconds before SIGKILL, scaled to this machine's speed: 4-10% of an uninterrupted run each, so
  // that all 20 kills land before the run can finish (fixed delays let a fast machine finish after
  // 10), at start-up, in steps and in checkpoint writes alike.
  std::uniform_real_distribution<double> delay(0.04 * straight_seconds, 0.10 * straight_seconds);
  int64_t previous_step = 0;
  int kills = 0;
  for (int attempt = 0; attempt < 20; ++attempt) {
    const bool resume = fs::exists(last);
    char seconds[32];
    std::snprintf(seconds, sizeof seconds, "%.2f", delay(rng));
    auto r = test::run_shell(std::string("timeout -s KILL ") + seconds + " \"" + FLUXION_BINARY + "\"" + kRun +
                             (resume ? "--resume " : "") + "--out " + killed + " 2>&1");
    if (r.exit_code == 0) break;  // finished before the kill came
    ++kills;
    if (!fs::exists(last)) continue;  // killed before the first checkpoint: starts afresh
    // the newest checkpoint always loads, and training never goes back
    core::TensorMap tensors;
    REQUIRE_NOTHROW(tensors = core::load_safetensors(last));
    const int64_t step = tensors.at("trainer.step").item<int64_t>();
    CHECK(step >= previous_step);
    previous_step = step;
  }
  CHECK(kills >= 15);
  auto finish = test::run_fluxion(kRun + (fs::exists(last) ? "--resume " : "") + "--out " + killed);
  INFO(finish.output);
  REQUIRE(finish.exit_code == 0);

  auto want = core::load_safetensors(straight + "/checkpoints/last.safetensors");
  auto got = core::load_safetensors(last);
  REQUIRE(got.size() == want.size());
  for (const auto& [name, tensor] : want) {
    INFO(name);
    REQUIRE(got.count(name));
    CHECK(torch::equal(got.at(name), tensor));
  }
  // each logged step once, in order
  auto metrics = test::read_metrics(killed);
  REQUIRE(!metrics.empty());
  for (size_t i = 1; i < metrics.size(); ++i)
    CHECK(metrics[i]["step"].get<int64_t>() > metrics[i - 1]["step"].get<int64_t>());
  CHECK(metrics.back()["step"].get<int64_t>() == 120);
}
