// End-to-end: train --objective dale, sample --sampler dls, and the refusals between families.
#include <catch2/catch.hpp>

#include "test_helpers.h"

using namespace fluxion;

TEST_CASE("a Dale model trains and samples with DLS and UMS, and families are not mixed", "[e2e][dale]") {
  const auto dir = test::scratch_dir("dale_e2e");
  auto train = test::run_fluxion("train --objective dale --model SiT-T/4 --steps 4 --batch 8 --device cpu "
                                 "--grid-images 4 --grid-level-stride 100 --out " + dir + "/dale");
  INFO(train.output);
  REQUIRE(train.exit_code == 0);
  const std::string ckpt = dir + "/dale/checkpoints/last.safetensors";
  for (const std::string sampler : {"dls", "ums"}) {
    auto sample = test::run_fluxion("sample --ckpt " + ckpt + " --sampler " + sampler +
                                    " --level-stride 100 --n 4 --device cpu --npz " + dir + "/" + sampler + ".npz");
    INFO(sample.output);
    CHECK(sample.exit_code == 0);
    CHECK(sample.output.find("NFE") != std::string::npos);
  }
  auto wrong = test::run_fluxion("sample --ckpt " + ckpt + " --sampler heun --n 2 --device cpu --grid " + dir + "/g.png");
  CHECK(wrong.exit_code != 0);
  CHECK(wrong.output.find("dls") != std::string::npos);

  auto flow = test::run_fluxion("train --model SiT-T/4 --steps 1 --batch 8 --device cpu --grid-images 4 "
                                "--grid-steps 1 --out " + dir + "/flow");
  REQUIRE(flow.exit_code == 0);
  auto mixed = test::run_fluxion("sample --ckpt " + dir + "/flow/checkpoints/last.safetensors --sampler dls --n 2 "
                                 "--device cpu --grid " + dir + "/g.png");
  CHECK(mixed.exit_code != 0);
  CHECK(mixed.output.find("flow model") != std::string::npos);
}
