#include <catch2/catch.hpp>

#include <cstdlib>

#include "core/safetensors.h"
#include "numpy_python.h"
#include "test_helpers.h"

using namespace fluxion;

namespace {
// A valid header for one F32 tensor of shape {2} whose data is `data_bytes` long.
std::string file_with_header(const std::string& json, const std::string& data) {
  std::string bytes(8, '\0');
  uint64_t n = json.size();
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>(n >> (8 * i));
  return bytes + json + data;
}

void expect_rejected(const std::string& path, const std::string& fragment) {
  test::expect_error([&] { core::load_safetensors(path); }, {path, fragment});
}
}  // namespace

TEST_CASE("safetensors round-trips every dtype and the metadata", "[unit][safetensors]") {
  const auto dir = test::scratch_dir("safetensors_roundtrip");
  core::TensorMap tensors{
      {"f32", torch::randn({3, 4})},
      {"f64", torch::randn({5}, torch::kDouble)},
      {"f16", torch::randn({2, 2}).to(torch::kHalf)},
      {"bf16", torch::randn({7}).to(torch::kBFloat16)},
      {"i64", torch::arange(6, torch::kLong).reshape({2, 3})},
      {"i32", torch::arange(4, torch::kInt)},
      {"u8", torch::arange(200, torch::kLong).to(torch::kUInt8)},
      {"bool", torch::tensor({true, false, true})},
      {"scalar", torch::tensor(3.5f)},
      {"empty", torch::zeros({0, 3})},
      {"strided", torch::randn({4, 6}).t()},
  };
  const std::string path = dir + "/all.safetensors";
  core::save_safetensors(path, tensors, {{"config", "{\"a\": 1}"}, {"format", "pt"}});
  core::Metadata metadata;
  auto loaded = core::load_safetensors(path, &metadata);
  REQUIRE(loaded.size() == tensors.size());
  for (const auto& [name, t] : tensors) {
    INFO(name);
    REQUIRE(loaded.count(name));
    CHECK(loaded[name].scalar_type() == t.scalar_type());
    CHECK(loaded[name].sizes() == t.sizes());
    CHECK(torch::equal(loaded[name], t.contiguous()));
  }
  CHECK(metadata.at("config") == "{\"a\": 1}");
  CHECK(metadata.at("format") == "pt");

  auto prefixed = core::load_safetensors_prefixed(path, "f3");
  REQUIRE(prefixed.size() == 1);
  CHECK(prefixed.count("2"));
}

TEST_CASE("safetensors rejects malformed files with the file name", "[unit][safetensors]") {
  const auto dir = test::scratch_dir("safetensors_bad");
  const std::string good_json = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  const std::string data(8, '\0');

  auto path = dir + "/missing.safetensors";
  expect_rejected(path, "cannot open");

  path = dir + "/tiny.safetensors";
  test::write_bytes(path, "abc");
  expect_rejected(path, "truncated");

  path = dir + "/huge_header.safetensors";
  test::write_bytes(path, std::string("\xff\xff\xff\xff\xff\xff\x00\x00", 8) + "{}");
  expect_rejected(path, "header length");

  path = dir + "/header_past_end.safetensors";
  test::write_bytes(path, file_with_header(good_json, data).substr(0, 20));
  expect_rejected(path, "exceeds the file size");

  path = dir + "/truncated_data.safetensors";
  test::write_bytes(path, file_with_header(good_json, data.substr(0, 4)));
  expect_rejected(path, "past the data section");

  path = dir + "/bad_json.safetensors";
  test::write_bytes(path, file_with_header("{\"a\": [", data));
  expect_rejected(path, "not valid JSON");

  path = dir + "/bad_dtype.safetensors";
  test::write_bytes(path, file_with_header(R"({"a":{"dtype":"F8_E9","shape":[2],"data_offsets":[0,8]}})", data));
  expect_rejected(path, "unsupported dtype");

  path = dir + "/shape_mismatch.safetensors";
  test::write_bytes(path, file_with_header(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", data));
  expect_rejected(path, "dtype x shape");

  path = dir + "/overlap.safetensors";
  test::write_bytes(
      path,
      file_with_header(
          R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
          data));
  expect_rejected(path, "overlap");

  path = dir + "/huge_shape.safetensors";
  test::write_bytes(
      path,
      file_with_header(
          R"({"a":{"dtype":"F32","shape":[4611686018427387904,4611686018427387904],"data_offsets":[0,8]}})", data));
  expect_rejected(path, "");
}

TEST_CASE("safetensors files interoperate with an independent Python reader and writer", "[unit][safetensors]") {
  // tests/python/safetensors_np.py implements the format from its spec with struct + json + numpy
  // (Debian has no `safetensors` module); it shares no code with fluxion's reader.
  if (test::numpy_python().empty()) {
    test::skip_test("python3 with numpy not available");
  }
  const auto dir = test::scratch_dir("safetensors_python");
  REQUIRE(test::run_python(dir, "write.py", "from safetensors_np import save_file\nd = '" + dir + "'\n" + R"(
save_file({'w': np.arange(12, dtype=np.float32).reshape(3, 4), 'i': np.array([1, 2], dtype=np.int64),
           'b': np.array([True, False]), 'h': np.arange(3, dtype=np.float16) / 4,
           's': np.asarray(np.float64(-0.5)), 'u': np.arange(256).astype(np.uint8)},
          d + '/py.safetensors', metadata={'k': 'v', 'config': '{"depth": 2}'})
)") == 0);
  core::Metadata metadata;
  auto loaded = core::load_safetensors(dir + "/py.safetensors", &metadata);
  CHECK(torch::equal(loaded.at("w"), torch::arange(12, torch::kFloat).reshape({3, 4})));
  CHECK(torch::equal(loaded.at("i"), torch::tensor({1, 2}, torch::kLong)));
  CHECK(torch::equal(loaded.at("b"), torch::tensor({true, false})));
  CHECK(torch::equal(loaded.at("h"), torch::arange(3, torch::kHalf) / 4));
  CHECK(loaded.at("s").dim() == 0);
  CHECK(loaded.at("s").item<double>() == -0.5);
  CHECK(torch::equal(loaded.at("u"), torch::arange(256).to(torch::kUInt8)));
  CHECK(metadata.at("k") == "v");
  CHECK(metadata.at("config") == "{\"depth\": 2}");

  core::save_safetensors(dir + "/fx.safetensors",
                         {{"x", torch::arange(5, torch::kDouble)},
                          {"m", torch::arange(6, torch::kInt).reshape({2, 3}).t()},
                          {"e", torch::zeros({0, 2})},
                          {"c", torch::tensor({true, true, false})}},
                         {{"m", "n"}});
  CHECK(test::run_python(dir, "check.py", "from safetensors_np import load_file\nd = '" + dir + "'\n" + R"(
t, meta = load_file(d + '/fx.safetensors')
assert meta == {'m': 'n'}, meta
assert sorted(t) == ['c', 'e', 'm', 'x']
assert t['x'].dtype == np.float64 and (t['x'] == np.arange(5.0)).all()
assert t['m'].dtype == np.int32 and (t['m'] == np.arange(6).reshape(2, 3).T).all()
assert t['e'].shape == (0, 2) and t['e'].dtype == np.float32
assert t['c'].dtype == bool and list(t['c']) == [True, True, False]
)") == 0);
}
