// `fluxion bench --what train|sample|decode` (tools/bench_throughput.h) end to end on tiny sizes:
// each prints its workload and a positive rate; bad options fail with one line.
#include <catch2/catch.hpp>

#include <string>

#include "test_helpers.h"

using namespace fluxion;

namespace {
double printed_rate(const std::string& output) {
  const auto at = output.find(" images/s");
  REQUIRE(at != std::string::npos);
  const auto start = output.rfind(' ', at - 1);
  return std::stod(output.substr(start + 1, at - start - 1));
}
}  // namespace

TEST_CASE("fluxion bench measures a training step, a sampler and the SD-VAE decoder", "[e2e]") {
  const std::string tiny = " --device cpu --batch 2 --iterations 1 --warmup 0";
  auto train = test::run_fluxion("bench --what train --model SiT-T/4" + tiny);
  INFO(train.output);
  REQUIRE(train.exit_code == 0);
  CHECK(train.output.find("train: SiT-T/4, batch 2, AdamW + EMA step, fp32") != std::string::npos);
  CHECK(printed_rate(train.output) > 0);

  auto sample = test::run_fluxion("bench --what sample --model SiT-T/4 --sampler heun --steps 2" + tiny);
  INFO(sample.output);
  REQUIRE(sample.exit_code == 0);
  CHECK(sample.output.find("heun, 2 steps") != std::string::npos);
  CHECK(sample.output.find("4 NFE") != std::string::npos);
  CHECK(printed_rate(sample.output) > 0);

  auto decode = test::run_fluxion("bench --what decode --latent-size 4" + tiny);
  INFO(decode.output);
  REQUIRE(decode.exit_code == 0);
  CHECK(decode.output.find("SD-VAE decoder, batch 2, 4x4 latents -> 32 px, fp32") != std::string::npos);
  CHECK(printed_rate(decode.output) > 0);

  auto bad = test::run_fluxion("bench --what nothing");
  CHECK(bad.exit_code != 0);
}
