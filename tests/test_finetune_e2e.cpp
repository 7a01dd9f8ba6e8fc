// End-to-end: `fluxion finetune` (train/drl_finetune.h) on a tiny SiT trained for a few steps on
// Fashion-MNIST: the held-out reward rises, the checkpoint samples with `fluxion sample`, a
// resumed run ends with the same weights, and bad input is one line with nothing written.
#include <catch2/catch.hpp>

#include <cctype>
#include <filesystem>

#include "core/npz.h"
#include "core/safetensors.h"
#include "test_helpers.h"

using namespace fluxion;
namespace fs = std::filesystem;

namespace {
// A base model: SiT-T/4 after 3 steps (what test_sample_e2e samples), shared by the cases one
// process runs. CTest runs each case in its own process, in parallel: the folder is named after
// the case that trains it, so no process deletes a base another is reading.
const std::string& base_checkpoint() {
  static const std::string path = [] {
    std::string owner = Catch::getResultCapture().getCurrentTestName();
    for (auto& c : owner) c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
    const auto run = test::scratch_dir("finetune_base/" + owner.substr(0, 80));
    auto r = test::run_fluxion("train --model SiT-T/4 --steps 3 --batch 8 --device cpu --grid-images 0 --out " + run);
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    return run + "/checkpoints/last.safetensors";
  }();
  return path;
}

// Small everything: 64 + 64 images for the discriminator, 8 samples per step on a 4-step grid.
const std::string kTiny =
    " --device cpu --data-threads 2 --disc-samples 64 --disc-hidden 32 --disc-lr 1e-3"
    " --disc-epochs 10 --sampler euler --sampler-steps 4 --group-size 4 --rollout-steps 4"
    " --grid-images 16 ";

}  // namespace

TEST_CASE("fluxion finetune raises the held-out reward and its checkpoint samples like a trained one", "[e2e][drl]") {
  const auto run = test::scratch_dir("finetune_reward") + "/drl";
  auto r = test::run_fluxion("finetune --ckpt " + base_checkpoint() + kTiny +
                             "--features fmnist --algo reward-grad --groups 4 --steps 8 --lr 1e-2 --beta 0.01 --ema 0 "
                             "--log-every 2 --sample-every 4"
                             " --ckpt-every 4 --out " +
                             run);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(r.output.find("held-out accuracy") != std::string::npos);
  for (const char* f :
       {"/config.json", "/disc.safetensors", "/metrics.jsonl", "/report.html", "/samples/step-0000000.png",
        "/samples/step-0000008.png", "/checkpoints/step-0000004.safetensors", "/checkpoints/last.safetensors"})
    REQUIRE(fs::exists(run + f));
  const auto metrics = test::read_metrics(run);
  REQUIRE(metrics.front().contains("disc_holdout_accuracy"));
  CHECK(metrics.front()["disc_holdout_accuracy"].get<double>() > 0.6);  // noise-like samples are easy to tell
  std::vector<double> eval;
  int64_t logged = 0;
  for (const auto& m : metrics) {
    if (m.contains("eval")) eval.push_back(m["eval"]["reward"].get<double>());
    if (m.contains("reward")) {
      ++logged;
      for (const char* key : {"loss", "kl", "disc_acc", "grad_norm"}) CHECK(m.contains(key));
    }
  }
  CHECK(logged == 4);
  REQUIRE(eval.size() == 3);  // steps 0, 4, 8
  INFO("held-out rewards " << eval[0] << " " << eval[1] << " " << eval[2]);
  // seeded, so the same on every run here: -0.519 -> -0.509 -> -0.501 when written
  CHECK(eval[1] > eval[0]);
  CHECK(eval[2] > eval[0] + 0.01);
  const auto report = test::read_bytes(run + "/report.html");
  CHECK(report.find("Reward") != std::string::npos);
  CHECK(report.find("KL to the base") != std::string::npos);
  // the finetuned checkpoint samples with fluxion sample exactly like a trained one
  auto s = test::run_fluxion("sample --ckpt " + run +
                             "/checkpoints/last.safetensors --n 4 --batch 4 --steps 2 --device cpu"
                             " --grid " +
                             run + "/grid.png");
  INFO(s.output);
  CHECK(s.exit_code == 0);
  CHECK(fs::exists(run + "/grid.png"));
}

TEST_CASE("an interrupted and resumed finetune ends with the same weights as an uninterrupted one",
          "[e2e][drl][slow]") {
  const auto dir = test::scratch_dir("finetune_resume");
  const std::string common =
      "finetune --ckpt " + base_checkpoint() + kTiny +
      "--features fmnist --groups 2 --algo grpo --sde-window 2 --inner-epochs 2 --lr 1e-3 --log-every 1 --ckpt-every 2"
      " --sample-every 100 ";
  auto straight = test::run_fluxion(common + "--steps 4 --out " + dir + "/straight");
  INFO(straight.output);
  REQUIRE(straight.exit_code == 0);
  // the split run reuses the straight run's discriminator (--disc), which is what it would train
  auto first =
      test::run_fluxion(common + "--steps 2 --disc " + dir + "/straight/disc.safetensors --out " + dir + "/split");
  INFO(first.output);
  REQUIRE(first.exit_code == 0);
  auto resumed = test::run_fluxion("finetune --resume --steps 4 --device cpu --out " + dir + "/split");
  INFO(resumed.output);
  REQUIRE(resumed.exit_code == 0);
  test::require_same_tensors(dir + "/straight/checkpoints/last.safetensors",
                             dir + "/split/checkpoints/last.safetensors");
  const auto a = test::read_metrics(dir + "/straight"), b = test::read_metrics(dir + "/split");
  CHECK(a.back()["step"] == 4);
  CHECK(b.back()["step"] == 4);
  auto last_reward = [](const std::vector<nlohmann::json>& lines) {
    for (auto it = lines.rbegin(); it != lines.rend(); ++it)
      if (it->contains("reward")) return (*it)["reward"].get<double>();
    return -1e9;
  };
  CHECK(last_reward(a) == last_reward(b));
  // the clock goes on across the resume: elapsed_s never falls
  for (size_t i = 1; i < b.size(); ++i)
    if (b[i].contains("elapsed_s") && b[i - 1].contains("elapsed_s"))
      CHECK(b[i]["elapsed_s"].get<double>() >= b[i - 1]["elapsed_s"].get<double>());
  // a finished run is not overwritten
  auto again = test::run_fluxion(common + "--steps 1 --out " + dir + "/straight");
  CHECK(again.exit_code != 0);
  CHECK(again.output.find("--resume") != std::string::npos);
}

TEST_CASE("fluxion finetune refuses bad input with one line and writes nothing", "[e2e][drl]") {
  const auto dir = test::scratch_dir("finetune_bad_input");
  auto expect_refused = [&](const std::string& args, const std::string& fragment, const std::string& out) {
    const auto features = args.find("--features") == std::string::npos ? " --features fmnist" : "";
    auto r = test::run_fluxion("finetune" + kTiny + "--groups 2 --steps 1 --out " + out + features + " " + args);
    INFO(args << "\n" << r.output);
    CHECK(r.exit_code != 0);
    CHECK(r.output.find(fragment) != std::string::npos);
    CHECK(r.output.find("fluxion: error:") != std::string::npos);
    CHECK(r.output.find('\n') == r.output.size() - 1);  // one line
    CHECK(!fs::exists(out));
  };
  // a checkpoint of the wrong family: a Dale (multiplicative) model
  auto dale = test::run_fluxion(
      "train --objective dale --model SiT-T/4 --steps 1 --batch 4 --device cpu --grid-images 0"
      " --out " +
      dir + "/dale");
  INFO(dale.output);
  REQUIRE(dale.exit_code == 0);
  expect_refused("--ckpt " + dir + "/dale/checkpoints/last.safetensors", "needs a flow model", dir + "/o1");
  // a file that is no checkpoint at all
  expect_refused("--ckpt " + dir + "/o1.safetensors", "", dir + "/o2");
  // a features spec that does not exist
  expect_refused("--ckpt " + base_checkpoint() + " --features nosuch", "unknown extractor 'nosuch'", dir + "/o3");
  // real images of another size than the model's (48x48 against 32x32)
  core::save_npz(dir + "/big.npz", {{"arr_0", torch::zeros({8, 48, 48, 1}, torch::kUInt8)},
                                    {"arr_1", torch::arange(8, torch::kLong).remainder(10)}});
  expect_refused("--ckpt " + base_checkpoint() + " --data " + dir + "/big.npz",
                 "48x48 images, but the model makes 32x32", dir + "/o4");
}

TEST_CASE("a refreshed discriminator moves the KL's reference to the policy, and a resumed run refreshes alike",
          "[e2e][drl]") {
  const auto dir = test::scratch_dir("finetune_refresh");
  const std::string common = "finetune --ckpt " + base_checkpoint() + kTiny +
                             "--features fmnist --groups 2 --algo grpo --lr 1e-3 --log-every 1 --ckpt-every 2"
                             " --sample-every 100 --refresh-every 2 ";
  auto kl_at = [](const std::string& run, int64_t at) {
    for (const auto& m : test::read_metrics(run))
      if (m.contains("kl") && m["step"] == at) return m["kl"].get<double>();
    FAIL("no kl logged at step " << at);
    return -1.0;
  };
  auto policy = test::run_fluxion(common + "--steps 3 --out " + dir + "/policy");
  INFO(policy.output);
  REQUIRE(policy.exit_code == 0);
  for (const char* f : {"/disc.safetensors", "/disc-step-0000002.safetensors", "/anchor-step-0000002.safetensors"})
    CHECK(fs::exists(dir + "/policy" + f));
  CHECK(kl_at(dir + "/policy", 2) > 0);
  // step 3's rollout runs the weights the anchor holds: the KL to it is zero to the bit
  CHECK(kl_at(dir + "/policy", 3) == 0.0);
  // the anchor is the policy after step 2's update
  const auto anchor = core::load_safetensors(dir + "/policy/anchor-step-0000002.safetensors");
  const auto at_step_2 = core::load_safetensors(dir + "/policy/checkpoints/step-0000002.safetensors");
  REQUIRE(!anchor.empty());
  for (const auto& [name, tensor] : anchor) {
    INFO(name);
    REQUIRE(at_step_2.count(name));
    CHECK(torch::equal(tensor, at_step_2.at(name)));
  }

  auto base = test::run_fluxion(common + "--steps 3 --refresh-anchor base --out " + dir + "/base");
  INFO(base.output);
  REQUIRE(base.exit_code == 0);
  CHECK(!fs::exists(dir + "/base/anchor-step-0000002.safetensors"));
  CHECK(kl_at(dir + "/base", 3) > 0);

  // stopped at the refresh step and resumed: the refresh happens on resume, same weights
  auto first =
      test::run_fluxion(common + "--steps 2 --disc " + dir + "/policy/disc.safetensors --out " + dir + "/split");
  INFO(first.output);
  REQUIRE(first.exit_code == 0);
  CHECK(!fs::exists(dir + "/split/anchor-step-0000002.safetensors"));
  CHECK(first.output.find("held-out accuracy unknown") == std::string::npos);  // --disc files carry it
  auto resumed = test::run_fluxion("finetune --resume --steps 3 --device cpu --out " + dir + "/split");
  INFO(resumed.output);
  REQUIRE(resumed.exit_code == 0);
  CHECK(fs::exists(dir + "/split/anchor-step-0000002.safetensors"));
  test::require_same_tensors(dir + "/policy/checkpoints/last.safetensors", dir + "/split/checkpoints/last.safetensors");

  auto bad = test::run_fluxion(common + "--steps 3 --refresh-anchor data --out " + dir + "/bad");
  CHECK(bad.exit_code != 0);
  CHECK(bad.output.find("--refresh-anchor") != std::string::npos);
  CHECK(!fs::exists(dir + "/bad"));
}
