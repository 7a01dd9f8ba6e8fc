// The DRL discriminator (train/drl_discriminator.h) on feature distributions with known density
// ratios.
#include <catch2/catch.hpp>

#include "test_helpers.h"
#include "train/drl_discriminator.h"

using namespace fluxion;

namespace {
constexpr int64_t kDim = 8;

// (n, 8) standard normal rows shifted by mean_scale * (1, -1, 1, -1, ...)
torch::Tensor gaussian(int64_t n, double mean_scale, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  auto direction = torch::tensor({1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 1.0, -1.0});
  return torch::randn({n, kDim}, gen, torch::kDouble).to(torch::kFloat) + (direction * mean_scale).to(torch::kFloat);
}

double correlation(const torch::Tensor& a, const torch::Tensor& b) {
  auto x = a.to(torch::kDouble) - a.to(torch::kDouble).mean(), y = b.to(torch::kDouble) - b.to(torch::kDouble).mean();
  return ((x * y).sum() / (x.norm() * y.norm())).item<double>();
}

train::DiscriminatorTraining quick() {
  train::DiscriminatorTraining t;
  t.lr = 3e-3;
  t.max_epochs = 40;
  t.patience = 8;
  return t;
}
}  // namespace

TEST_CASE("the discriminator separates two Gaussians and its logit tracks the log density ratio", "[unit]") {
  const double m = 0.75;  // |mean| = 0.75 sqrt(8): the Bayes accuracy is Phi(1.06) = 0.855
  auto real = gaussian(4000, m, 1), base = gaussian(4000, 0.0, 2);
  auto labels = torch::zeros({4000}, torch::kLong);
  train::DiscriminatorHead head(train::DiscriminatorConfig{kDim, 64, 0});
  auto fit = train::train_discriminator(head, real, labels, base, labels, quick());
  INFO("held-out accuracy " << fit.holdout_accuracy << ", epochs " << fit.epochs);
  CHECK(fit.holdout_accuracy > 0.80);
  CHECK(fit.holdout_accuracy < 0.90);  // not above the Bayes rate by more than noise
  // on fresh points the logit follows log N(x; mu, I) - log N(x; 0, I) = mu.x - |mu|^2 / 2
  auto probe = torch::cat({gaussian(1000, m, 3), gaussian(1000, 0.0, 4)});
  auto mu = torch::tensor({1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 1.0, -1.0}).to(torch::kFloat) * m;
  auto true_ratio = probe.matmul(mu) - mu.dot(mu) / 2;
  auto logits = train::discriminator_reward(head, probe, torch::zeros({2000}, torch::kLong));
  CHECK(correlation(logits, true_ratio) > 0.9);
  CHECK_FALSE(logits.requires_grad());
}

TEST_CASE("a class-conditional discriminator uses the labels", "[unit]") {
  // class 0's real features sit at +mu, class 1's at -mu; the base model's at 0 for both. The
  // marginals cannot tell real from base along mu's sign; the class projection can.
  auto real = torch::cat({gaussian(2000, 0.75, 5), gaussian(2000, -0.75, 6)});
  auto base = gaussian(4000, 0.0, 7);
  auto labels = torch::cat({torch::zeros({2000}, torch::kLong), torch::ones({2000}, torch::kLong)});
  train::DiscriminatorHead conditional(train::DiscriminatorConfig{kDim, 64, 2});
  auto fit = train::train_discriminator(conditional, real, labels, base, labels, quick());
  train::DiscriminatorHead blind(train::DiscriminatorConfig{kDim, 64, 0});
  auto blind_fit = train::train_discriminator(blind, real, labels, base, labels, quick());
  INFO("conditional " << fit.holdout_accuracy << ", unconditional " << blind_fit.holdout_accuracy);
  CHECK(fit.holdout_accuracy > 0.8);
  CHECK(fit.holdout_accuracy > blind_fit.holdout_accuracy + 0.03);
  // the null label (CFG's) gets no class term
  auto x = gaussian(4, 0.0, 8);
  auto null_label = torch::full({4}, 2, torch::kLong);
  torch::NoGradGuard no_grad;
  auto unconditional_part = conditional->forward(x, null_label);
  CHECK(unconditional_part.sizes() == torch::IntArrayRef({4}));
}

TEST_CASE("balanced batches leave no log(n_data / n_base) offset in the logit", "[unit]") {
  // the same distribution on both sides, four times more real rows: the logit must stay near 0
  // (an unbalanced BCE would learn log 4 = 1.39)
  auto real = gaussian(8000, 0.0, 9), base = gaussian(2000, 0.0, 10);
  train::DiscriminatorHead head(train::DiscriminatorConfig{kDim, 32, 0});
  auto t = quick();
  t.max_epochs = 5;
  train::train_discriminator(head, real, torch::zeros({8000}, torch::kLong), base, torch::zeros({2000}, torch::kLong),
                             t);
  auto logits = train::discriminator_reward(head, gaussian(2000, 0.0, 11), torch::zeros({2000}, torch::kLong));
  CHECK(std::abs(logits.mean().item<double>()) < 0.25);
}

TEST_CASE("discriminator files round-trip and bad input fails in one line", "[unit]") {
  train::DiscriminatorHead head(train::DiscriminatorConfig{kDim, 16, 3});
  const auto dir = test::scratch_dir("discriminator_files");
  train::save_discriminator(dir + "/disc.safetensors", head, "fmnist", 0.8125);
  std::string features;
  double accuracy = 0;
  auto loaded = train::load_discriminator(dir + "/disc.safetensors", &features, &accuracy);
  CHECK(features == "fmnist");
  CHECK(accuracy == 0.8125);
  train::save_discriminator(dir + "/unknown.safetensors", head, "fmnist");  // accuracy not known
  train::load_discriminator(dir + "/unknown.safetensors", nullptr, &accuracy);
  CHECK(accuracy == -1.0);
  auto x = gaussian(5, 0.3, 12);
  auto y = torch::tensor({0, 1, 2, 3, 1}, torch::kLong);
  torch::NoGradGuard no_grad;
  CHECK(torch::equal(head->forward(x, y), loaded->forward(x, y)));

  test::write_bytes(dir + "/other.safetensors", test::read_bytes(dir + "/disc.safetensors").substr(0, 40));
  test::expect_one_line_error([&] { train::load_discriminator(dir + "/other.safetensors"); }, {"other.safetensors"});
  test::expect_one_line_error(
      [&] {
        head->forward(torch::zeros({2, 5}), torch::zeros({2}, torch::kLong));
      },
      {"do not fit (B, 8)"});
  test::expect_one_line_error(
      [&] {
        train::train_discriminator(head, torch::zeros({10, kDim}), torch::zeros({9}, torch::kLong),
                                   torch::zeros({10, kDim}), torch::zeros({10}, torch::kLong), quick());
      },
      {"real labels do not match"});
}
