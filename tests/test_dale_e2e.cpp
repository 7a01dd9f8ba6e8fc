// End-to-end: train --objective dale, sample with DLS and UMS and look at the samples, and the
// refusals between families.
#include <catch2/catch.hpp>

#include <string>
#include <tuple>

#include "core/npz.h"
#include "core/safetensors.h"
#include "test_helpers.h"

using namespace fluxion;

namespace {
// What a few steps of training cannot hide in Dale samples (ADM npz: arr_0 (N, 32, 32, 3) uint8,
// arr_1 labels): grey images with contrast, no two alike, and the class prior's shapes. The model
// is barely trained, so the class structure comes from the per-class prior the sampler starts
// from (dale_prior.h); it survives the sampler only if labels reach the prior.
void check_dale_samples(const std::string& npz, const std::string& ckpt, int64_t n) {
  INFO(npz);
  const auto arrays = core::load_npz(npz);
  const auto& images = arrays.at("arr_0");
  REQUIRE(images.sizes() == torch::IntArrayRef({n, 32, 32, 3}));
  const auto labels = arrays.at("arr_1");
  CHECK(torch::equal(labels, torch::arange(n, torch::kLong).remainder(10)));
  CHECK(torch::equal(images.select(3, 0), images.select(3, 2)));  // Fashion-MNIST is grey
  // (N, 32, 32) -> (N, 1024)
  auto grey = images.select(3, 0).to(torch::kDouble).reshape({n, -1});
  // A NaN or an overflow ends as a flat image after the clamp; samples measure ~115 grey levels.
  const double flattest = grey.std(1).min().item<double>();
  INFO("smallest per-image std " << flattest);
  REQUIRE(flattest > 30);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < i; ++j) CHECK((grey[i] != grey[j]).to(torch::kDouble).mean().item<double>() > 0.1);
  // Correlation of each sample with each class's prior mean image (log space, (K + 1, 1, 32, 32)):
  // its own class must beat the average of the others. Measured 0.04 to 0.06 (20 samples' standard
  // error 0.005); a prior that ignored the labels gives 0.00.
  auto unit_rows = [](torch::Tensor rows) {
    rows = rows - rows.mean(1, true);
    return rows / rows.norm(2, 1, true);
  };
  const auto prior = core::load_safetensors(ckpt).at("objective.prior_class_mean");
  auto corr = unit_rows(grey).matmul(unit_rows(prior.narrow(0, 0, 10).to(torch::kDouble).reshape({10, -1})).t());
  auto own = corr.gather(1, labels.view({-1, 1})).squeeze(1);
  const double margin = (own - (corr.sum(1) - own) / 9).mean().item<double>();
  INFO("own-class correlation margin " << margin);
  CHECK(margin > 0.02);
}
}  // namespace

TEST_CASE("a Dale model trains and samples with DLS and UMS, and families are not mixed", "[e2e][dale]") {
  const auto dir = test::scratch_dir("dale_e2e");
  auto train = test::run_fluxion(
      "train --objective dale --model SiT-T/4 --steps 4 --batch 8 --device cpu "
      "--grid-images 4 --grid-level-stride 100 --out " +
      dir + "/dale");
  INFO(train.output);
  REQUIRE(train.exit_code == 0);
  const std::string ckpt = dir + "/dale/checkpoints/last.safetensors";
  // DLS takes big steps (stride 100, 10 NFE) safely. UMS, ambient, gets stride 25: at stride 100
  // 7 of 20 images had a pixel cross zero, whose log input turns the whole image into NaN, which
  // the clamp leaves flat black.
  for (const auto& [sampler, stride, n] : {std::tuple<std::string, int, int64_t>{"dls", 100, 20}, {"ums", 25, 10}}) {
    const std::string npz = dir + "/" + sampler + ".npz";
    auto sample =
        test::run_fluxion("sample --ckpt " + ckpt + " --sampler " + sampler + " --level-stride " +
                          std::to_string(stride) + " --n " + std::to_string(n) + " --device cpu --npz " + npz);
    INFO(sample.output);
    REQUIRE(sample.exit_code == 0);
    CHECK(sample.output.find("NFE") != std::string::npos);
    check_dale_samples(npz, ckpt, n);
  }
  auto wrong =
      test::run_fluxion("sample --ckpt " + ckpt + " --sampler heun --n 2 --device cpu --grid " + dir + "/g.png");
  CHECK(wrong.exit_code != 0);
  CHECK(wrong.output.find("dls") != std::string::npos);

  auto flow = test::run_fluxion(
      "train --model SiT-T/4 --steps 1 --batch 8 --device cpu --grid-images 4 "
      "--grid-steps 1 --out " +
      dir + "/flow");
  REQUIRE(flow.exit_code == 0);
  auto mixed = test::run_fluxion("sample --ckpt " + dir +
                                 "/flow/checkpoints/last.safetensors --sampler dls --n 2 "
                                 "--device cpu --grid " +
                                 dir + "/g.png");
  CHECK(mixed.exit_code != 0);
  CHECK(mixed.output.find("flow model") != std::string::npos);
}
