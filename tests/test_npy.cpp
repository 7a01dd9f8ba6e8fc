#include <catch2/catch.hpp>

#include <iomanip>

#include "core/error.h"
#include "core/npy.h"
#include "numpy_python.h"
#include "test_helpers.h"

using namespace fluxion;

namespace {

// Every dtype .npy can hold, with values that exercise the whole byte pattern.
std::map<std::string, torch::Tensor> sample_arrays() {
  return {
      {"f16", torch::randn({2, 3}).to(torch::kHalf)},
      {"f32", torch::randn({3, 4})},
      {"f64", torch::randn({5}, torch::kDouble)},
      {"u8", torch::arange(256, torch::kLong).to(torch::kUInt8).reshape({16, 16})},
      {"i8", torch::arange(-128, 128, torch::kLong).to(torch::kChar)},
      {"i16", torch::tensor({-32768, 0, 32767}, torch::kShort)},
      {"i32", torch::tensor({-2147483647 - 1, 1, 2147483647}, torch::kInt)},
      {"i64", torch::tensor({std::numeric_limits<int64_t>::min(), int64_t(7), std::numeric_limits<int64_t>::max()},
                            torch::kLong)},
      {"bool", torch::tensor({true, false, true})},
      {"c64", torch::randn({2, 2}, torch::kComplexFloat)},
      {"c128", torch::randn({3}, torch::kComplexDouble)},
      {"scalar", torch::tensor(2.5)},
      {"empty", torch::zeros({0, 3})},
      {"strided", torch::randn({4, 6}).t()},
      {"rank5", torch::randn({1, 2, 1, 3, 2})},
  };
}

// A .npy image with a hand-written header dict (padded the way numpy pads it).
std::string npy_with_dict(std::string dict, const std::string& data, int major = 1) {
  const size_t preamble = major == 1 ? 10 : 12;
  dict.append((64 - (preamble + dict.size() + 1) % 64) % 64, ' ');
  dict += '\n';
  std::string out = std::string("\x93NUMPY", 6) + char(major) + '\0';
  for (size_t i = 0; i < preamble - 8; ++i) out += char((dict.size() >> (8 * i)) & 0xff);
  return out + dict + data;
}

std::string float_bytes(std::initializer_list<float> values) {
  std::string out;
  for (float v : values) out.append(reinterpret_cast<const char*>(&v), sizeof v);
  return out;
}

void expect_rejected(const std::string& path, const std::string& fragment) {
  test::expect_one_line_error([&] { core::load_npy(path); }, {path, fragment});
}

}  // namespace

TEST_CASE("npy round-trips every dtype through files and bytes", "[unit][npy]") {
  const auto dir = test::scratch_dir("npy_roundtrip");
  for (const auto& [name, t] : sample_arrays()) {
    INFO(name);
    const std::string path = dir + "/" + name + ".npy";
    core::save_npy(path, t);
    const auto loaded = core::load_npy(path);
    CHECK(loaded.scalar_type() == t.scalar_type());
    CHECK(loaded.sizes() == t.sizes());
    CHECK(torch::equal(loaded, t.contiguous()));
    const auto bytes = core::serialize_npy(t);
    CHECK(bytes == test::read_bytes(path));
    CHECK(torch::equal(core::parse_npy(bytes, name), t.contiguous()));
    // numpy's layout: format 1.0 and data aligned to 64 bytes.
    const auto header = core::parse_npy_header(bytes.data(), bytes.size(), name);
    CHECK(header.data_offset % 64 == 0);
    CHECK(bytes[6] == 1);
  }
}

TEST_CASE("npy headers spell shapes and dtypes as numpy does", "[unit][npy]") {
  CHECK(core::npy_descr(torch::kUInt8) == "|u1");
  CHECK(core::npy_descr(torch::kBool) == "|b1");
  CHECK(core::npy_descr(torch::kFloat) == "<f4");
  CHECK(core::npy_descr(torch::kLong) == "<i8");
  CHECK_THROWS_AS(core::npy_descr(torch::kBFloat16), Error);
  CHECK_THROWS_AS(core::serialize_npy(torch::zeros({2}, torch::kBFloat16)), Error);
  const auto text = [](const torch::Tensor& t) { return core::npy_header_bytes(t.scalar_type(), t.sizes()); };
  CHECK(text(torch::zeros({3})).find("'shape': (3,), }") != std::string::npos);
  CHECK(text(torch::zeros({})).find("'shape': (), }") != std::string::npos);
  CHECK(text(torch::zeros({2, 3})).find("'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }") !=
        std::string::npos);
}

TEST_CASE("npy header dicts are parsed in any spelling numpy accepts", "[unit][npy]") {
  const std::string data = float_bytes({1, 2, 3, 4, 5, 6});
  const auto expected = torch::arange(1, 7, torch::kFloat).reshape({2, 3});
  for (const std::string dict : {
           "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
           "{'shape': (2,3), 'descr': '<f4', 'fortran_order': False}",
           "{ \"fortran_order\" : False , \"shape\" : ( 2 , 3 , ) , \"descr\" : \"<f4\" }",
           "{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L), }",
       }) {
    INFO(dict);
    CHECK(torch::equal(core::parse_npy(npy_with_dict(dict, data), "t"), expected));
    CHECK(torch::equal(core::parse_npy(npy_with_dict(dict, data, 2), "t"), expected));
    CHECK(torch::equal(core::parse_npy(npy_with_dict(dict, data, 3), "t"), expected));
  }
  const std::string bytes = "\x01\x02";
  for (const std::string descr : {"|u1", "<u1", "=u1"}) {
    const auto t = core::parse_npy(
        npy_with_dict("{'descr': '" + descr + "', 'fortran_order': False, 'shape': (2,), }", bytes), "t");
    CHECK(torch::equal(t, torch::tensor({1, 2}, torch::kUInt8)));
  }
  const auto scalar =
      core::parse_npy(npy_with_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", float_bytes({7})), "t");
  CHECK(scalar.dim() == 0);
  CHECK(scalar.item<float>() == 7.0f);
}

TEST_CASE("npy rejects malformed files with one line naming the file", "[unit][npy]") {
  const auto dir = test::scratch_dir("npy_bad");
  const std::string good =
      npy_with_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", float_bytes({1, 2, 3, 4, 5, 6}));
  auto write = [&](const std::string& name, const std::string& bytes) {
    const std::string path = dir + "/" + name;
    test::write_bytes(path, bytes);
    return path;
  };
  auto with = [&](const std::string& dict, const std::string& data) { return npy_with_dict(dict, data); };
  expect_rejected(dir + "/missing.npy", "cannot open");
  expect_rejected(write("tiny.npy", good.substr(0, 7)), "truncated");
  expect_rejected(write("magic.npy", "PK\x03\x04 not numpy at all"), "bad magic");
  expect_rejected(write("header_past_end.npy", good.substr(0, 40)), "past the end");
  expect_rejected(write("truncated_data.npy", good.substr(0, good.size() - 3)), "payload");
  expect_rejected(write("trailing.npy", good + "xyz"), "trailing");
  expect_rejected(write("version.npy", good.substr(0, 6) + '\x04' + good.substr(7)), "version");
  expect_rejected(write("descr.npy", with("{'descr': '<U5', 'fortran_order': False, 'shape': (1,), }", "")),
                  "unsupported .npy dtype descr '<U5'");
  expect_rejected(write("object.npy", with("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", "12345678")),
                  "object arrays");
  expect_rejected(write("fortran.npy", with("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
                                            float_bytes({1, 2, 3, 4, 5, 6}))),
                  "Fortran");
  expect_rejected(write("big_endian.npy", with("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", "abcd")),
                  "big-endian");
  expect_rejected(
      write("structured.npy",
            with("{'descr': [('a', '<f4'), ('b', '<i4')], 'fortran_order': False, 'shape': (1,), }", "abcdefgh")),
      "structured");
  expect_rejected(write("no_shape.npy", with("{'descr': '<f4', 'fortran_order': False, }", "abcd")), "lacks");
  expect_rejected(
      write("garbage_dict.npy", with("{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }", "abcd")),
      "malformed .npy header");
  expect_rejected(write("negative.npy", with("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", "abcd")),
                  "malformed .npy header");
  // A lying header must be caught before anything is allocated.
  expect_rejected(write("huge.npy", with("{'descr': '<f8', 'fortran_order': False, "
                                         "'shape': (1000000000000, 1000), }",
                                         "abcdefgh")),
                  "payload");
  expect_rejected(write("overflow.npy", with("{'descr': '<f8', 'fortran_order': False, "
                                             "'shape': (4611686018427387904, 4611686018427387904), }",
                                             "abcdefgh")),
                  "overflows");
  std::string huge_v2 = good;
  huge_v2[6] = 2;
  huge_v2.insert(8, 2, '\0');
  huge_v2[8] = huge_v2[9] = huge_v2[10] = huge_v2[11] = '\xff';
  expect_rejected(write("huge_header.npy", huge_v2), "implausibly large");
}

TEST_CASE("npy files interoperate with numpy both ways", "[unit][npy]") {
  if (test::numpy_python().empty()) {
    test::skip_test("python3 with numpy not available");
  }
  const auto dir = test::scratch_dir("npy_numpy");
  REQUIRE(test::run_python(dir, "write.py", R"(
d = ')" + dir + R"('
np.save(d + '/f4.npy', (np.arange(24, dtype=np.float32) / 4).reshape(2, 3, 4))
np.save(d + '/f8.npy', np.arange(5, dtype=np.float64) / 3)
np.save(d + '/f2.npy', np.arange(6, dtype=np.float16) - 2.5)
np.save(d + '/u1.npy', (np.arange(300) % 256).astype(np.uint8))
np.save(d + '/i1.npy', np.arange(-5, 5, dtype=np.int8))
np.save(d + '/i2.npy', np.arange(-5, 5, dtype=np.int16) * 1000)
np.save(d + '/i4.npy', np.arange(-5, 5, dtype=np.int32) * 100000)
np.save(d + '/i8.npy', np.arange(-5, 5, dtype=np.int64) * 10**12)
np.save(d + '/b1.npy', np.arange(7) % 3 == 0)
np.save(d + '/c8.npy', np.arange(4, dtype=np.complex64) * (1 + 2j))
np.save(d + '/scalar.npy', np.float32(1.25))
np.save(d + '/fortran.npy', np.asfortranarray(np.arange(6.0).reshape(2, 3)))
)") == 0);
  const auto ar = [](int64_t n, torch::ScalarType t) { return torch::arange(n, torch::kLong).to(t); };
  CHECK(torch::equal(core::load_npy(dir + "/f4.npy"), (ar(24, torch::kFloat) / 4).reshape({2, 3, 4})));
  CHECK(torch::equal(core::load_npy(dir + "/f8.npy"), ar(5, torch::kDouble) / 3));
  CHECK(torch::equal(core::load_npy(dir + "/f2.npy"), (ar(6, torch::kHalf) - 2.5)));
  CHECK(torch::equal(core::load_npy(dir + "/u1.npy"), (torch::arange(300) % 256).to(torch::kUInt8)));
  CHECK(torch::equal(core::load_npy(dir + "/i1.npy"), torch::arange(-5, 5, torch::kChar)));
  CHECK(torch::equal(core::load_npy(dir + "/i2.npy"), torch::arange(-5, 5, torch::kShort) * 1000));
  CHECK(torch::equal(core::load_npy(dir + "/i4.npy"), torch::arange(-5, 5, torch::kInt) * 100000));
  CHECK(torch::equal(core::load_npy(dir + "/i8.npy"), torch::arange(-5, 5, torch::kLong) * int64_t(1000000000000)));
  CHECK(torch::equal(core::load_npy(dir + "/b1.npy"), torch::arange(7) % 3 == 0));
  CHECK(torch::equal(core::load_npy(dir + "/c8.npy"), ar(4, torch::kComplexFloat) * c10::complex<float>(1, 2)));
  const auto scalar = core::load_npy(dir + "/scalar.npy");
  CHECK(scalar.dim() == 0);
  CHECK(scalar.item<float>() == 1.25f);
  // numpy saves a Fortran-ordered array with fortran_order True: rejected, not misread.
  CHECK_THROWS_WITH(core::load_npy(dir + "/fortran.npy"), Catch::Contains("Fortran"));

  const auto arrays = sample_arrays();
  for (const auto& [name, t] : arrays) core::save_npy(dir + "/fx_" + name + ".npy", t);
  // numpy checks each file against the values fluxion printed into the script.
  std::string script = "d = '" + dir + "'\n";
  script +=
      "a = np.load(d + '/fx_u8.npy'); assert a.dtype == np.uint8 and a.shape == (16, 16)\n"
      "assert (a.ravel() == np.arange(256)).all()\n"
      "a = np.load(d + '/fx_i64.npy'); assert a.dtype == np.int64\n"
      "assert list(a) == [-2**63, 7, 2**63 - 1]\n"
      "a = np.load(d + '/fx_bool.npy'); assert a.dtype == bool and list(a) == [True, False, True]\n"
      "a = np.load(d + '/fx_scalar.npy'); assert a.shape == () and a == 2.5\n"
      "a = np.load(d + '/fx_empty.npy'); assert a.shape == (0, 3) and a.dtype == np.float32\n"
      "a = np.load(d + '/fx_i8.npy'); assert a.dtype == np.int8 and (a == np.arange(-128, 128)).all()\n";
  const auto f32 = arrays.at("strided").contiguous();
  script += "a = np.load(d + '/fx_strided.npy'); assert a.shape == (6, 4) and a.dtype == np.float32\n";
  script += "assert np.array_equal(a.ravel(), np.array([";
  for (int64_t i = 0; i < f32.numel(); ++i)
    script += (i ? "," : "") + concat(std::setprecision(9), f32.view(-1)[i].item<float>());
  script += "], dtype=np.float32))\n";
  const auto c128 = arrays.at("c128");
  script += "a = np.load(d + '/fx_c128.npy'); assert a.dtype == np.complex128\n";
  script += concat(std::setprecision(17), "assert a[1] == complex(", torch::real(c128)[1].item<double>(), ", ",
                   torch::imag(c128)[1].item<double>(), ")\n");
  CHECK(test::run_python(dir, "check.py", script) == 0);
}
