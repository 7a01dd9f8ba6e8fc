// Dale's log-normal priors (objectives/dale_prior.h): the per-channel fit against GBM's closed
// form at T, and the per-class, per-pixel prior with its sampling rows.
#include <catch2/catch.hpp>

#include <cmath>

#include "objectives/dale_prior.h"

using namespace fluxion;

TEST_CASE("the log-normal prior fit has the closed form of GBM at T", "[unit][dale]") {
  objectives::DaleConfig config;
  auto x = torch::zeros({5, 2, 3, 3});  // every pixel 0 -> x0 = 1.5
  x.select(1, 1).fill_(1.0);            // channel 1 -> x0 = 2
  auto [mean, std] = objectives::fit_log_normal_prior(x, config);
  CHECK(mean[0].item<double>() == Approx(std::log(1.5)));
  CHECK(mean[1].item<double>() == Approx(std::log(2.0)));
  CHECK(std[0].item<double>() == Approx(0.8));
}

TEST_CASE("the class prior holds each class's per-pixel log statistics at T", "[unit][dale]") {
  objectives::DaleConfig config;
  // class 0: pixels 0 and 1 (x0 1.5, 2); class 1: pixel -1 and 0 alternately (x0 1, 1.5); class 2 empty
  auto x = torch::zeros({4, 1, 1, 2});
  x[0][0][0][1] = 1.0;
  x[1][0][0][1] = 1.0;
  x[2].fill_(-1.0);
  auto labels = torch::tensor({0, 0, 1, 1}, torch::kLong);
  auto priors = objectives::fit_dale_priors(x, labels, 3, config);
  const auto& mean = priors.at("prior_class_mean");
  const auto& std = priors.at("prior_class_std");
  REQUIRE(mean.sizes() == torch::IntArrayRef({4, 1, 1, 2}));
  CHECK(mean[0][0][0][0].item<double>() == Approx(std::log(1.5)));
  CHECK(mean[0][0][0][1].item<double>() == Approx(std::log(2.0)));
  CHECK(std[0][0][0][0].item<double>() == Approx(0.8));
  CHECK(mean[1][0][0][0].item<double>() == Approx(0.5 * std::log(1.5)));
  CHECK(std[1][0][0][0].item<double>() == Approx(std::sqrt(0.25 * std::log(1.5) * std::log(1.5) + 0.64)));
  CHECK(mean[2].equal(mean[3]));  // no images: the all-images row
  // sampling with z = 0 gives exp(mean) of each label's row; labels past the table read the last row
  auto z = torch::zeros({3, 1, 1, 2});
  auto start = objectives::sample_dale_prior(priors, "class", torch::tensor({0, 1, 7}, torch::kLong), z);
  CHECK(start[0][0][0][1].item<double>() == Approx(2.0));
  CHECK(start[1][0][0][0].item<double>() == Approx(std::sqrt(1.5)));
  CHECK(start[2].allclose(torch::exp(mean[3])));
  CHECK(objectives::resolve_dale_prior("auto", priors) == "class");
  priors.erase("prior_class_mean");
  CHECK(objectives::resolve_dale_prior("auto", priors) == "channel");
  CHECK_THROWS_WITH(objectives::resolve_dale_prior("class", priors), Catch::Contains("--prior channel"));
}
