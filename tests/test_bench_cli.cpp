// `fluxion bench --what train|sample|decode` (tools/bench_throughput.h) end to end on tiny sizes:
// each prints its workload and a positive rate; bad options fail with one line.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include <torch/torch.h>

#include "test_helpers.h"

using namespace fluxion;

namespace {
double printed_rate(const std::string& output) {
  const auto at = output.find(" images/s");
  REQUIRE(at != std::string::npos);
  const auto start = output.rfind(' ', at - 1);
  return std::stod(output.substr(start + 1, at - start - 1));
}
// "(X GFLOP per image)" of the model-FLOPs line
double printed_gflop(const std::string& output) {
  const auto at = output.find(" GFLOP per image");
  REQUIRE(at != std::string::npos);
  const auto start = output.rfind('(', at);
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
  // FLOPs per image: a training step is 3 forward passes, Heun with 2 steps 4 (models/flops.h)
  CHECK(printed_gflop(sample.output) == Approx(printed_gflop(train.output) * 4.0 / 3.0).epsilon(1e-4));
  CHECK(train.output.find("MFU") == std::string::npos);  // no known peak on a CPU
  auto guided = test::run_fluxion("bench --what sample --model SiT-T/4 --sampler heun --steps 2 --cfg 2" + tiny +
                                  " --peak-tflops 0.5");
  INFO(guided.output);
  REQUIRE(guided.exit_code == 0);
  CHECK(printed_gflop(guided.output) == Approx(2 * printed_gflop(sample.output)).epsilon(1e-4));  // doubled batch
  CHECK(guided.output.find("MFU") != std::string::npos);
  CHECK(guided.output.find("% of 0.5 TFLOP/s") != std::string::npos);

  auto decode = test::run_fluxion("bench --what decode --latent-size 4" + tiny);
  INFO(decode.output);
  REQUIRE(decode.exit_code == 0);
  CHECK(decode.output.find("SD-VAE decoder, batch 2, 4x4 latents -> 32 px, fp32") != std::string::npos);
  CHECK(printed_rate(decode.output) > 0);

  // the block without token mixing (the floor) beside softmax and linear attention
  auto block = test::run_fluxion(
      "bench --what block --device cpu --attention none,softmax,linear --tokens 16,64 --dim 32 --heads 2 --batch 1 "
      "--iterations 1 --warmup 0");
  INFO(block.output);
  REQUIRE(block.exit_code == 0);
  for (const char* column : {"none ms", "softmax ms", "linear ms", "softmax/none", "linear/none"})
    CHECK(block.output.find(column) != std::string::npos);

  // bad values: one line naming what is wrong, before anything is timed or printed
  for (const auto& [args, fragment] : std::vector<std::pair<std::string, std::string>>{
           {"--what block --attention softmax,bogus --tokens 16", "'bogus' is not one of"},
           {"--what block --attention none --tokens 16,0", "token count 0 must be positive"},
           {"--what train --model SiT-T/4 --peak-tflops -1", "--peak-tflops -1 must not be negative"},
           {"--what block --attention none --tokens 16 --profile t.json --profile-iterations 0",
            "--profile-iterations 0 must be positive"}}) {
    auto r = test::run_fluxion("bench " + args + " --device cpu --batch 1 --iterations 1 --warmup 0");
    INFO(args << "\n" << r.output);
    CHECK(r.exit_code != 0);
    CHECK(r.output.find(fragment) != std::string::npos);
    CHECK(r.output.find("fluxion: error:") == 0);
    CHECK(r.output.find('\n') == r.output.size() - 1);
  }
  auto listed = test::run_fluxion("bench --what block --attention bogus --tokens 16 --device cpu");
  CHECK(listed.output.find("or none (the block without token mixing)") != std::string::npos);

  auto bad = test::run_fluxion("bench --what nothing");
  CHECK(bad.exit_code != 0);
}

namespace {
bool is_chrome_trace(const std::string& path) {
  return test::read_bytes(path).find("\"traceEvents\"") != std::string::npos;
}

// `bench --profile` on `device`: a Kineto trace per workload, or (a LibTorch without Kineto, as
// Debian's) one error line. Returns false in the second case.
bool check_profiles(const std::string& device, const std::string& dir) {
  const std::string common = " --device " + device + " --batch 1 --iterations 1 --warmup 0 --profile-iterations 2";
  auto block = test::run_fluxion("bench --what block --attention none,linear --tokens 16 --dim 32 --heads 2" + common +
                                 " --profile " + dir + "/block.json");
  INFO(block.output);
  if (block.output.find("cannot write traces") != std::string::npos) {
    CHECK(block.exit_code == 1);
    CHECK(block.output.find('\n') == block.output.size() - 1);
    return false;
  }
  REQUIRE(block.exit_code == 0);
  for (const char* name : {"/block.none-16.json", "/block.linear-16.json"}) {
    CHECK(block.output.find(dir + name) != std::string::npos);
    CHECK(is_chrome_trace(dir + name));
  }
  for (const std::string what : {"train", "sample"}) {
    auto run = test::run_fluxion("bench --what " + what + " --model SiT-T/4 --sampler euler --steps 2" + common +
                                 " --profile " + dir + "/" + what + ".json");
    INFO(run.output);
    REQUIRE(run.exit_code == 0);
    CHECK(is_chrome_trace(dir + "/" + what + ".json"));
  }
  return true;
}
}  // namespace

TEST_CASE("fluxion bench --profile writes a trace per workload, or says this LibTorch cannot", "[e2e]") {
  check_profiles("cpu", test::scratch_dir("bench_profile_cpu"));
}

TEST_CASE("fluxion bench --profile traces CUDA workloads", "[cuda]") {
  if (!torch::cuda::is_available()) test::skip_test("CUDA not available");
  if (!check_profiles("cuda", test::scratch_dir("bench_profile_cuda"))) test::skip_test("this LibTorch has no Kineto");
}
