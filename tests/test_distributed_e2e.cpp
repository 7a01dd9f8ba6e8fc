// End-to-end data-parallel runs on the CPU (Gloo, 2 ranks through `fluxion launch`): N ranks
// with a global batch B train what one process with batch B trains, checkpoints resume across rank
// counts, rank 0 alone writes, and a dead or hung rank ends the job with one clear line; sample,
// stats and encode split their batches over the ranks and write one process's files byte for byte.
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sys/wait.h>

#include "core/image_io.h"
#include "core/safetensors.h"
#include "metrics/inception_fid.h"
#include "metrics/weight_fill.h"
#include "models/module_state.h"
#include "test_helpers.h"

using namespace fluxion;
namespace fs = std::filesystem;

namespace {
const std::string kRun =
    " train --model SiT-T/4 --batch 16 --warmup 5 --lr 1e-3 --device cpu --data-threads 1"
    " --grid-images 4 --grid-steps 2 --log-every 5 --sample-every 1000 ";

// Runs a bash script ($F is the fluxion binary); stdout and stderr together.
test::CommandResult run_script(const std::string& dir, const std::string& script) {
  test::write_bytes(dir + "/script.sh", "F=\"" + std::string(FLUXION_BINARY) + "\"\n" + script);
  return test::run_shell("bash " + dir + "/script.sh");
}

void skip_without_backend(const test::CommandResult& r) {
  if (r.output.find("c10d backend this build lacks") != std::string::npos)
    test::skip_test("this build has no Gloo backend (Debian's libgloo-dev at configure time)");
}

// Largest difference over every float tensor of two checkpoints (weights, EMA, AdamW moments);
// the integer trainer state must be equal.
double max_checkpoint_diff(const std::string& a, const std::string& b) {
  auto ta = core::load_safetensors(a), tb = core::load_safetensors(b);
  REQUIRE(ta.size() == tb.size());
  double worst = 0;
  for (const auto& [name, t] : ta) {
    INFO(name);
    REQUIRE(tb.count(name));
    if (t.is_floating_point()) {
      worst = std::max(worst, test::max_abs_diff(t, tb.at(name)));
    } else {
      CHECK(torch::equal(t, tb.at(name)));
    }
  }
  return worst;
}

// A run folder that resumes from `checkpoint` (another run's step checkpoint).
std::string resumable_copy(const std::string& checkpoint, const std::string& dir) {
  fs::create_directories(dir + "/checkpoints");
  fs::copy_file(checkpoint, dir + "/checkpoints/last.safetensors");
  return dir;
}
}  // namespace

// Tolerance: the ranks' gradients are means over 8 examples averaged in a second reduction, so
// they differ from the 16-example mean by float rounding (~1e-7 relative); AdamW normalises each
// update to about lr = 1e-3, so after 10 steps the weights differ by ~1e-7 (seen: 1.8e-7) while a
// wrong slice of data or draws moves them by ~lr per step (1e-3 and more). 1e-5 separates the two.
TEST_CASE("2 ranks with batch 8 each train what 1 rank with batch 16 trains and resume across rank counts",
          "[e2e][train][distributed]") {
  const auto dir = test::scratch_dir("distributed_equivalence");
  const auto one = dir + "/one", two = dir + "/two";
  auto r1 = test::run_fluxion(kRun + "--ckpt-every 5 --steps 10 --out " + one);
  INFO(r1.output);
  REQUIRE(r1.exit_code == 0);
  // 1 MiB buckets: several allreduces overlapping with backward (SiT-T/4 has 5 MB of gradients).
  auto r2 = run_script(
      dir, "FLUXION_DIST_BUCKET_MB=1 \"$F\" launch --nproc 2 -- " + kRun + "--ckpt-every 5 --steps 10 --out " + two);
  INFO(r2.output);
  skip_without_backend(r2);
  REQUIRE(r2.exit_code == 0);
  CHECK(r2.output.find("2 ranks") != std::string::npos);
  CHECK(r2.output.find(" bucket(s) during backward") != std::string::npos);
  CHECK(r2.output.find("in 1 bucket(s)") == std::string::npos);

  const double diff = max_checkpoint_diff(one + "/checkpoints/last.safetensors", two + "/checkpoints/last.safetensors");
  WARN("max difference, 2 ranks x 8 vs 1 rank x 16 after 10 steps: " << diff);
  CHECK(diff < 1e-5);
  // One writer: each logged step once, the same figures as one process (loss and norm reduced).
  const auto m1 = test::read_metrics(one), m2 = test::read_metrics(two);
  REQUIRE(m2.size() == 2);
  REQUIRE(m1.size() == 2);
  for (size_t i = 0; i < 2; ++i) {
    CHECK(m2[i]["step"] == m1[i]["step"]);
    CHECK(m2[i]["loss"].get<double>() == Approx(m1[i]["loss"].get<double>()).epsilon(1e-5));
    CHECK(m2[i]["grad_norm"].get<double>() == Approx(m1[i]["grad_norm"].get<double>()).epsilon(1e-4));
  }
  for (const char* f : {"/config.json", "/config.toml", "/checkpoints/step-0000005.safetensors"})
    CHECK(fs::exists(two + f));
  int temporaries = 0;
  for (const auto& entry : fs::directory_iterator(two + "/checkpoints"))
    temporaries += entry.path().filename().string().find("step-") == 0 ? 0 : 1;
  CHECK(temporaries == 1);  // last.safetensors only: no second writer's leftovers

  // 2 ranks -> 1: step 5 of the 2-rank run, continued by one process to step 10.
  const auto two_one = resumable_copy(two + "/checkpoints/step-0000005.safetensors", dir + "/two_one");
  auto r21 = test::run_fluxion("train --resume --steps 10 --device cpu --out " + two_one);
  INFO(r21.output);
  REQUIRE(r21.exit_code == 0);
  CHECK(max_checkpoint_diff(one + "/checkpoints/last.safetensors", two_one + "/checkpoints/last.safetensors") < 1e-5);
  // 1 rank -> 2.
  const auto one_two = resumable_copy(one + "/checkpoints/step-0000005.safetensors", dir + "/one_two");
  auto r12 = test::run_fluxion("launch --nproc 2 -- train --resume --steps 10 --device cpu --out " + one_two);
  INFO(r12.output);
  REQUIRE(r12.exit_code == 0);
  CHECK(max_checkpoint_diff(one + "/checkpoints/last.safetensors", one_two + "/checkpoints/last.safetensors") < 1e-5);
  const auto state = core::load_safetensors(one_two + "/checkpoints/last.safetensors");
  CHECK(state.at("trainer.step").item<int64_t>() == 10);
  CHECK(state.at("trainer.data_position").item<int64_t>() == 160);  // global examples
  CHECK(test::read_metrics(one_two).size() == 1);                   // step 10 only, written once

  // A global batch that does not divide by the ranks is refused with one line.
  auto odd = test::run_fluxion("launch --nproc 2 -- train --model SiT-T/4 --batch 15 --device cpu --steps 1 --out " +
                               dir + "/odd");
  CHECK(odd.exit_code != 0);
  CHECK(odd.output.find("--batch 15 must divide") != std::string::npos);
}

TEST_CASE("a killed rank ends fluxion launch with a non-zero exit naming the rank", "[e2e][train][distributed]") {
  const auto dir = test::scratch_dir("distributed_killed");
  // Start 2 ranks, wait for training to run, SIGKILL rank 1 (the launcher's second child).
  auto r = run_script(dir, "\"$F\" launch --nproc 2 --timeout 5 -- " + kRun + "--steps 100000 --ckpt-every 2 --out " +
                               dir + "/run > " + dir +
                               "/log 2>&1 &\n"
                               "L=$!\n"
                               "for i in $(seq 300); do [ -e " +
                               dir +
                               "/run/checkpoints/last.safetensors ] && break; sleep 0.1; done\n"
                               "C=$(pgrep -P $L | sort -n | tail -1)\n"
                               "start=$(date +%s%N)\n"
                               "kill -KILL $C\n"
                               "wait $L; rc=$?\n"
                               "echo \"rc=$rc ms=$(( ($(date +%s%N) - start) / 1000000 ))\"\n"
                               "cat " +
                               dir + "/log\n");
  INFO(r.output);
  skip_without_backend(r);
  CHECK(r.output.find("rc=0 ") == std::string::npos);
  CHECK(r.output.find("rc=") != std::string::npos);
  CHECK(r.output.find("fluxion: error: launch: rank 1") != std::string::npos);
  CHECK(r.output.find("killed by signal 9") != std::string::npos);
  const auto ms_at = r.output.find("ms=");
  REQUIRE(ms_at != std::string::npos);
  CHECK(std::stol(r.output.substr(ms_at + 3)) < 15000);
}

TEST_CASE("a hung rank makes the others fail with one line within the collective timeout",
          "[e2e][train][distributed]") {
  // torchrun's environment without the launcher: rank 1 is stopped (SIGSTOP), so only the
  // collective timeout (FLUXION_DIST_TIMEOUT=4 s) can end rank 0.
  const auto dir = test::scratch_dir("distributed_hung");
  auto r = run_script(dir,
                      "export WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$((20000 + RANDOM % 20000)) "
                      "FLUXION_DIST_TIMEOUT=4 OMP_NUM_THREADS=1\n"
                      "RANK=0 LOCAL_RANK=0 \"$F\" " +
                          kRun + "--steps 100000 --ckpt-every 2 --out " + dir + "/run > " + dir +
                          "/log0 2>&1 &\nP0=$!\n"
                          "RANK=1 LOCAL_RANK=1 \"$F\" " +
                          kRun + "--steps 100000 --ckpt-every 2 --out " + dir + "/run > " + dir +
                          "/log1 2>&1 &\nP1=$!\n"
                          "for i in $(seq 300); do [ -e " +
                          dir +
                          "/run/checkpoints/last.safetensors ] && break; sleep 0.1; done\n"
                          "start=$(date +%s%N)\n"
                          "kill -STOP $P1\n"
                          "wait $P0; rc=$?\n"
                          "echo \"rc=$rc ms=$(( ($(date +%s%N) - start) / 1000000 ))\"\n"
                          "kill -KILL $P1; kill -CONT $P1; wait $P1\n"
                          "tail -n 3 " +
                          dir + "/log0\n");
  INFO(r.output);
  skip_without_backend(r);
  CHECK(r.output.find("rc=0 ") == std::string::npos);
  CHECK(r.output.find("fluxion: error: distributed: rank 0 of 2") != std::string::npos);
  CHECK(r.output.find("FLUXION_DIST_TIMEOUT=4 s") != std::string::npos);
  const auto ms_at = r.output.find("ms=");
  REQUIRE(ms_at != std::string::npos);
  CHECK(std::stol(r.output.substr(ms_at + 3)) < 4000 + 8000);
}

namespace {
// Every file under `a` and `b` (relative names) with equal bytes.
void require_same_tree(const std::string& a, const std::string& b) {
  std::vector<std::string> names_a, names_b;
  for (const auto& e : fs::recursive_directory_iterator(a)) names_a.push_back(fs::relative(e.path(), a).string());
  for (const auto& e : fs::recursive_directory_iterator(b)) names_b.push_back(fs::relative(e.path(), b).string());
  std::sort(names_a.begin(), names_a.end());
  std::sort(names_b.begin(), names_b.end());
  REQUIRE(names_a == names_b);
  for (const auto& name : names_a) {
    INFO(name);
    if (fs::is_regular_file(a + "/" + name))
      CHECK(test::read_bytes(a + "/" + name) == test::read_bytes(b + "/" + name));
  }
}

// The same command run by one process into one-NAME/ and by 2 ranks into two-NAME/ (`@` in the
// command stands for that folder); both folders must hold the same files, byte for byte. On the
// CPU a convolution's rounding depends on the number of intra-op threads, so the single process
// runs with the one thread each rank gets (fluxion launch divides the cores; set here as well).
// Returns the 2-rank run's output.
std::string run_both_ways(const std::string& dir, const std::string& name, const std::string& command) {
  auto in = [&command](const std::string& folder) {
    std::string text = command;
    for (size_t at = text.find('@'); at != std::string::npos; at = text.find('@', at + folder.size()))
      text.replace(at, 1, folder);
    return text;
  };
  const auto one = dir + "/one-" + name, two = dir + "/two-" + name;
  fs::create_directories(one);
  fs::create_directories(two);
  auto r = run_script(dir, "export OMP_NUM_THREADS=1\n\"$F\" " + in(one) + " > " + one + ".log 2>&1 || { cat " + one +
                               ".log; exit 1; }\n\"$F\" launch --nproc 2 -- " + in(two) + " 2>&1\n");
  INFO(r.output);
  skip_without_backend(r);
  REQUIRE(r.exit_code == 0);
  require_same_tree(one, two);
  return r.output;
}
}  // namespace

TEST_CASE("2 ranks sample, extract statistics and encode the files one process writes, byte for byte",
          "[e2e][distributed][sample]") {
  const auto dir = test::scratch_dir("distributed_sharded");

  SECTION("sample: PNGs, grid and npz; an SDE sampler; re-runs; fewer batches than ranks") {
    auto trained = test::run_fluxion(kRun + "--steps 3 --ckpt-every 3 --out " + dir + "/run");
    INFO(trained.output);
    REQUIRE(trained.exit_code == 0);
    const std::string base =
        "sample --ckpt " + dir + "/run/checkpoints/last.safetensors --steps 3 --device cpu --seed 5 ";
    // 11 images in batches of 3: the ranks take batches {0, 1} and {2, 3}.
    auto out = run_both_ways(dir, "ode", base + "--n 11 --batch 3 --out @/png --grid @/grid.png --npz @/s.npz");
    CHECK(out.find("sampled 11 images (0 reused)") != std::string::npos);
    CHECK(out.find("split over 2 ranks") != std::string::npos);
    // The SDE's increments are drawn per batch (seed, first index): the batches must be one process's.
    run_both_ways(dir, "sde", base + "--n 11 --batch 3 --sampler euler-maruyama --npz @/s.npz");
    // One batch for two ranks: rank 0 has none and still gathers and writes.
    run_both_ways(dir, "one-batch", base + "--n 4 --batch 5 --npz @/s.npz --out @/png");
    // A re-run reuses each rank's PNGs; a PNG removed from rank 1's share is sampled again.
    fs::remove(dir + "/two-ode/png/000010_0.png");
    auto again = run_script(dir, "\"$F\" launch --nproc 2 -- " + base + "--n 11 --batch 3 --out " + dir +
                                     "/two-ode/png --npz " + dir + "/again.npz 2>&1");
    INFO(again.output);
    REQUIRE(again.exit_code == 0);
    CHECK(again.output.find("sampled 2 images (9 reused)") != std::string::npos);
    CHECK(test::read_bytes(dir + "/again.npz") == test::read_bytes(dir + "/one-ode/s.npz"));
  }

  SECTION("stats: fmnist features, and Inception's sFID features, folded in one process's order") {
    auto images = torch::randint(0, 256, {9, 1, 28, 28}, at::detail::createCPUGenerator(7), torch::kUInt8);
    fs::create_directories(dir + "/images");
    for (int64_t i = 0; i < images.size(0); ++i)
      core::write_png(dir + "/images/" + std::to_string(100 + i) + ".png", images[i]);
    run_both_ways(dir, "fmnist",
                  "stats --images " + dir + "/images --features fmnist --batch 2 --device cpu -o @/s.npz");
    metrics::InceptionFid net;
    metrics::fill_module(*net, std::sqrt(2.0));  // the golden fill rule: a network with varied outputs
    core::TensorMap weights;
    for (const auto& item : net->named_parameters()) weights[item.key()] = item.value().detach();
    for (const auto& item : net->named_buffers()) weights[item.key()] = item.value().detach();
    core::save_safetensors(dir + "/inception.safetensors", weights);
    auto out = run_both_ways(dir, "adm",
                             "stats --images " + dir + "/images --features inception-adm:" + dir +
                                 "/inception.safetensors --batch 4 --device cpu -o @/s.npz");
    CHECK(out.find("wrote ") != std::string::npos);
  }

  SECTION("encode: one archive with flipped copies, and a folder of shards") {
    fs::create_directories(dir + "/train/n01");
    torch::manual_seed(3);
    for (int i = 0; i < 5; ++i)
      core::write_png(dir + "/train/n01/img" + std::to_string(i) + ".png",
                      torch::randint(0, 256, {3, 40 + i, 37}, torch::kUInt8));
    test::write_tiny_vae(dir + "/vae.safetensors", dir + "/vae.json");
    const std::string base = "encode --images " + dir + "/train --vae " + dir + "/vae.safetensors --vae-config " + dir +
                             "/vae.json --image-size 32 --device cpu ";
    run_both_ways(dir, "archive", base + "--flip --batch 2 -o @/latents.npz");
    run_both_ways(dir, "shards", base + "--batch 1 --shard-size 2 -o @/latents");
  }
}
