// End-to-end: a run whose loss overflows stops at the first non-finite step with one line and
// writes nothing after it; with --on-nonfinite skip it finishes, counts the skipped steps and
// keeps finite weights. The per-step figures live on the device (train/step_monitor.h), so
// these also check that they reach the host at the right step.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/safetensors.h"
#include "test_helpers.h"

using namespace fluxion;

namespace {
// lr 1e30 overflows the weights within the first steps (warm-up 1: the full rate at step 1).
const std::string kOverflowing =
    " train --model SiT-T/4 --batch 4 --lr 1e30 --warmup 1 --device cpu --grid-images 0"
    " --log-every 5 --ckpt-every 1 --steps 12 ";

bool all_finite(const std::string& checkpoint) {
  for (const auto& [name, t] : core::load_safetensors(checkpoint))
    if (t.is_floating_point() && !torch::isfinite(t).all().item<bool>()) return false;
  return true;
}
}  // namespace

TEST_CASE("a non-finite step stops the run with one line, after its last good checkpoint", "[e2e][train]") {
  const auto run = test::scratch_dir("nonfinite_stop");
  const auto r = test::run_fluxion(kOverflowing + "--out " + run);
  INFO(r.output);
  REQUIRE(r.exit_code != 0);
  CHECK(r.output.find("non-finite loss") != std::string::npos);
  CHECK(r.output.find("--on-nonfinite skip") != std::string::npos);
  // The step it names, and checkpoints (written every step) up to the step before it only.
  const auto at = r.output.find(" at step ");
  REQUIRE(at != std::string::npos);
  const int64_t bad_step = std::stoll(r.output.substr(at + 9));
  CHECK(bad_step >= 1);
  CHECK(bad_step <= 12);
  for (int64_t s = 1; s <= 12; ++s) {
    char name[64];
    std::snprintf(name, sizeof name, "/checkpoints/step-%07lld.safetensors", static_cast<long long>(s));
    INFO("step " << s);
    if (s < bad_step) {
      REQUIRE(std::filesystem::exists(run + name));
      CHECK(all_finite(run + name));
    } else {
      CHECK_FALSE(std::filesystem::exists(run + name));
    }
  }
  CHECK(test::read_metrics(run).empty() == (bad_step <= 5));  // no log line at or after the bad step
  for (const auto& line : test::read_metrics(run)) CHECK(line["step"].get<int64_t>() < bad_step);
}

TEST_CASE("with --on-nonfinite skip a run finishes, counts the skipped steps and keeps finite weights",
          "[e2e][train]") {
  const auto run = test::scratch_dir("nonfinite_skip");
  const auto r = test::run_fluxion(kOverflowing + "--on-nonfinite skip --out " + run);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(r.output.find("skipped step") != std::string::npos);
  const auto metrics = test::read_metrics(run);
  REQUIRE(metrics.size() == 3);  // steps 5, 10, 12
  const auto skipped = metrics.back()["skipped"].get<int64_t>();
  CHECK(skipped >= 1);
  CHECK(skipped <= 12);
  // A window without a finite step has no mean loss (null), not 0.
  for (const auto& line : metrics)
    if (line["loss"].is_number()) CHECK(std::isfinite(line["loss"].get<double>()));
  CHECK(all_finite(run + "/checkpoints/last.safetensors"));
}
