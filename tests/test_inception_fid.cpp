#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <set>

#include "core/safetensors.h"
#include "metrics/inception_fid.h"
#include "metrics/weight_fill.h"
#include "test_helpers.h"

using namespace fluxion;

namespace {
// max |a - b| relative to the largest |b|
double relative_error(const torch::Tensor& a, const torch::Tensor& b) {
  return test::max_abs_diff(a, b) / b.abs().max().to(torch::kDouble).item<double>();
}
}  // namespace

TEST_CASE("the fill rule reproduces the golden fill check", "[golden][inception]") {
  const auto path = test::golden_path("inception_fid.safetensors");
  if (path.empty()) {
    test::skip_test("../shared/golden/inception_fid.safetensors absent");
  }
  const auto g = core::load_safetensors_prefixed(path, "fillcheck.");
  const std::map<std::string, std::vector<int64_t>> shapes = {
      {"Conv2d_1a_3x3.conv.weight", {32, 3, 3, 3}},
      {"Conv2d_1a_3x3.bn.running_var", {32}},
      {"Mixed_7c.branch_pool.conv.weight", {192, 2048, 1, 1}},
      {"fc.bias", {1008}},
  };
  REQUIRE(g.size() == shapes.size());
  for (const auto& [name, shape] : shapes) {
    INFO(name);
    const auto filled = metrics::fill_tensor(name, shape, std::sqrt(2.0)).flatten().narrow(0, 0, 8);
    CHECK(torch::equal(filled, g.at(name)));  // bit-exact
  }
  CHECK(metrics::fnv1a_64("") == 0xcbf29ce484222325ULL);
  CHECK(metrics::fnv1a_64("a") == 0xaf63dc4c8601ec8cULL);
}

TEST_CASE("FID Inception matches pytorch-fid on every output", "[golden][inception]") {
  const auto path = test::golden_path("inception_fid.safetensors");
  if (path.empty()) {
    test::skip_test("../shared/golden/inception_fid.safetensors absent");
  }
  core::Metadata metadata;
  const auto g = core::load_safetensors(path, &metadata);
  metrics::InceptionFid net;
  net->eval();

  // the module has exactly pytorch-fid's tensors
  const auto names = nlohmann::json::parse(metadata.at("state_dict_names")).get<std::vector<std::string>>();
  std::set<std::string> expected;
  for (const auto& n : names)
    if (n.find("num_batches_tracked") == std::string::npos) expected.insert(n);
  std::set<std::string> actual;
  for (const auto& item : net->named_parameters()) actual.insert(item.key());
  for (const auto& item : net->named_buffers())
    if (item.key().find("num_batches_tracked") == std::string::npos) actual.insert(item.key());
  CHECK(actual == expected);

  metrics::fill_module(*net, std::sqrt(2.0));
  torch::NoGradGuard no_grad;
  const auto out = net->extract(g.at("input.images_u8"), metrics::InceptionPreprocess::pytorch_fid);
  const std::vector<std::pair<std::string, torch::Tensor>> checks = {
      {"output.block0_mean", out.block0}, {"output.block1_mean", out.block1},
      {"output.block2_mean", out.block2}, {"output.pool3", out.pool3},
      {"output.logits", out.logits},      {"output.logits_nobias", out.logits_nobias}};
  for (const auto& [name, value] : checks) {
    INFO(name << " relative error " << relative_error(value, g.at(name)));
    CHECK(value.sizes() == g.at(name).sizes());
    CHECK(relative_error(value, g.at(name)) < 1e-4);
  }
  CHECK(out.spatial.sizes() == torch::IntArrayRef({3, 2023}));
}

TEST_CASE("TF1 bilinear resize follows torch-fidelity's sampling grid", "[unit][inception]") {
  // 4 -> 8: source x = dst * 0.5, upper neighbour clamped at the border
  const auto row = torch::tensor({0.f, 10.f, 20.f, 30.f}).view({1, 1, 1, 4}).expand({1, 1, 2, 4});
  const auto out = metrics::resize_bilinear_tf1(row, 2, 8);
  const auto expected = torch::tensor({0.f, 5.f, 10.f, 15.f, 20.f, 25.f, 30.f, 30.f});
  CHECK(torch::allclose(out[0][0][0], expected));
  CHECK(torch::allclose(out[0][0][1], expected));
  // a uint8 image of one grey value stays that value in both preprocessing modes
  const auto grey = torch::full({1, 1, 10, 13}, 128, torch::kUInt8);
  CHECK(torch::allclose(metrics::inception_preprocess(grey, metrics::InceptionPreprocess::tf_adm),
                        torch::zeros({1, 3, 299, 299})));
  CHECK(torch::allclose(metrics::inception_preprocess(grey, metrics::InceptionPreprocess::pytorch_fid),
                        torch::full({1, 3, 299, 299}, 2.f * 128.f / 255.f - 1.f)));
}
