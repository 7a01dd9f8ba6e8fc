#include <catch2/catch.hpp>

#include <filesystem>

#include "core/safetensors.h"
#include "metrics/fmnist_classifier.h"
#include "test_helpers.h"

using namespace fluxion;

TEST_CASE("fmnist preprocessing: gray, 32 -> 28 crop, [-1, 1]", "[unit][fmnist]") {
  auto images = torch::zeros({2, 3, 32, 32}, torch::kUInt8);
  images.narrow(2, 2, 28).narrow(3, 2, 28).fill_(255);  // the padded border stays 0
  const auto x = metrics::fmnist_preprocess(images);
  CHECK(x.sizes() == torch::IntArrayRef({2, 1, 28, 28}));
  CHECK(torch::allclose(x, torch::ones_like(x)));
  const auto y = metrics::fmnist_preprocess(torch::zeros({1, 1, 56, 56}, torch::kUInt8));
  CHECK(y.sizes() == torch::IntArrayRef({1, 1, 28, 28}));
  CHECK(torch::allclose(y, -torch::ones_like(y)));
}

TEST_CASE("the Fashion-MNIST classifier trains to >= 90% test accuracy and caches itself",
          "[slow][fmnist]") {
  if (!std::filesystem::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")) {
    WARN("Fashion-MNIST files absent; skipped");
    return;
  }
  const auto path = test::scratch_dir("fmnist_classifier") + "/fmnist_classifier.safetensors";
  auto model = metrics::load_or_train_fmnist_classifier(path, torch::kCPU);
  core::Metadata metadata;
  core::load_safetensors(path, &metadata);
  const double accuracy = std::stod(metadata.at("test_accuracy"));
  WARN("Fashion-MNIST classifier test accuracy " << accuracy);
  CHECK(accuracy >= 0.90);
  // the cached file loads back to the same accuracy
  auto cached = metrics::load_or_train_fmnist_classifier(path, torch::kCPU);
  CHECK(metrics::fmnist_test_accuracy(cached, torch::kCPU) == Approx(accuracy).margin(1e-12));
}
