#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>

#include "core/safetensors.h"
#include "metrics/features.h"
#include "metrics/fmnist_classifier.h"
#include "models/module_state.h"
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

TEST_CASE("the Fashion-MNIST classifier trains to >= 90% test accuracy and caches itself", "[slow][fmnist]") {
  test::require_fashion_mnist();
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

TEST_CASE("the shipped Fashion-MNIST classifier has its recorded test accuracy, at least 90%", "[unit][fmnist]") {
  // metrics/weights/fmnist_classifier.safetensors is what `--features fmnist` uses on a machine
  // that has not trained its own (tools/make_fmnist_classifier.sh reproduces it).
  test::require_fashion_mnist();
  const auto path = metrics::shipped_fmnist_classifier();
  REQUIRE(!path.empty());
  core::Metadata metadata;
  metrics::FmnistClassifier model;
  models::load_module_state(*model, core::load_safetensors(path, &metadata), path, "the Fashion-MNIST classifier");
  const double recorded = std::stod(metadata.at("test_accuracy"));
  const double measured = metrics::fmnist_test_accuracy(model, torch::kCPU);
  CHECK(measured == Approx(recorded).margin(1e-12));
  CHECK(measured >= 0.90);
  // `--features fmnist` resolves to it where no cached classifier exists.
  const char* previous = std::getenv("FLUXION_CACHE");
  const std::string saved = previous ? previous : "";
  ::setenv("FLUXION_CACHE", (test::scratch_dir("fmnist_no_cache") + "/none").c_str(), 1);
  CHECK(metrics::parse_feature_spec("fmnist").weights == path);
  if (previous) {
    ::setenv("FLUXION_CACHE", saved.c_str(), 1);
  } else {
    ::unsetenv("FLUXION_CACHE");
  }
}
