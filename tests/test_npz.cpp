#include <catch2/catch.hpp>

#include <chrono>
#include <fstream>

#include "core/npy.h"
#include "core/npz.h"
#include "core/zip_archive.h"
#include "numpy_python.h"
#include "test_helpers.h"

using namespace fluxion;

namespace {

core::ArrayMap sample_arrays() {
  return {
      {"images", (torch::arange(4 * 8 * 8 * 3) * 7 % 251).to(torch::kUInt8).reshape({4, 8, 8, 3})},
      {"labels", torch::arange(4, torch::kLong)},
      {"mu", torch::randn({16}, torch::kDouble)},
      {"sigma", torch::randn({16, 16}, torch::kDouble)},
      {"half", torch::randn({3, 5}).to(torch::kHalf)},
      {"flags", torch::tensor({true, false})},
      {"scalar", torch::tensor(3)},
      {"empty", torch::zeros({0}, torch::kFloat)},
  };
}

uint32_t le32(const std::string& b, size_t at) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(b[at + i]);
  return v;
}
void put_le(std::string& b, size_t at, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) b[at + i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
// Offset of the first central-directory header of an archive without a comment or ZIP64 records.
size_t central_directory(const std::string& archive) {
  const size_t end = archive.size() - 22;
  REQUIRE(le32(archive, end) == 0x06054b50u);
  return le32(archive, end + 16);
}

void expect_rejected(const std::string& path, std::vector<std::string> fragments) {
  fragments.insert(fragments.begin(), path);
  test::expect_one_line_error([&] { core::load_npz(path); }, fragments);
}

void write_zip_file(const std::string& path, const std::vector<core::ZipMemberSpec>& members) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  core::write_zip(out, members, path);
}

}  // namespace

TEST_CASE("npz round-trips stored and deflated archives", "[unit][npz]") {
  const auto dir = test::scratch_dir("npz_roundtrip");
  const auto arrays = sample_arrays();
  for (bool compress : {false, true}) {
    INFO("compress " << compress);
    const std::string path = dir + (compress ? "/c.npz" : "/s.npz");
    core::save_npz(path, arrays, compress);
    const auto loaded = core::load_npz(path);
    REQUIRE(loaded.size() == arrays.size());
    for (const auto& [name, t] : arrays) {
      INFO(name);
      REQUIRE(loaded.count(name));
      CHECK(loaded.at(name).scalar_type() == t.scalar_type());
      CHECK(torch::equal(loaded.at(name), t));
    }
    const auto members = core::list_npz(path);
    REQUIRE(members.size() == arrays.size());
    for (const auto& m : members) {
      CHECK(m.compressed == compress);
      CHECK(m.descr == core::npy_descr(arrays.at(m.name).scalar_type()));
      CHECK(m.shape == arrays.at(m.name).sizes().vec());
    }
    const auto some = core::load_npz(path, {"mu", "labels"});
    CHECK(some.size() == 2);
    CHECK(torch::equal(some.at("mu"), arrays.at("mu")));
    CHECK_THROWS_WITH(core::load_npz(path, {"nope"}), Catch::Contains("no array 'nope'"));
  }
  // Compression does compress, and the uint8 ramp of an ADM batch survives a larger archive.
  const auto batch = (torch::arange(500 * 32 * 32 * 3) % 256).to(torch::kUInt8).reshape({500, 32, 32, 3});
  core::save_npz(dir + "/big.npz", {{"arr_0", batch}}, true);
  CHECK(test::read_bytes(dir + "/big.npz").size() < static_cast<size_t>(batch.numel()) / 10);
  CHECK(torch::equal(core::load_npz(dir + "/big.npz").at("arr_0"), batch));
}

TEST_CASE("zip archives past 65535 members get ZIP64 end records and are read back", "[unit][npz]") {
  // libzip writes ZIP64 records only where they are needed: past 65535 members, as here, or past
  // 4 GiB (sizes and offsets in ZIP64 extra fields), too large for a unit test.
  const auto dir = test::scratch_dir("npz_zip64");
  const auto a = torch::arange(10, torch::kInt);
  const auto b = torch::randn({7, 3}, torch::kDouble);
  const std::string ha = core::npy_header_bytes(a.scalar_type(), a.sizes());
  const std::string hb = core::npy_header_bytes(b.scalar_type(), b.sizes());
  const std::string tiny = core::serialize_npy(torch::zeros({}, torch::kUInt8));
  std::vector<core::ZipMemberSpec> members = {{"a.npy", {{ha.data(), ha.size()}, {a.data_ptr(), 40}}, false},
                                              {"b.npy", {{hb.data(), hb.size()}, {b.data_ptr(), 7 * 3 * 8}}, true}};
  for (int i = 0; members.size() <= 0xffff; ++i)
    members.push_back({"z" + std::to_string(i) + ".npy", {{tiny.data(), tiny.size()}}, false});
  const std::string path = dir + "/zip64.npz";
  write_zip_file(path, members);
  const std::string bytes = test::read_bytes(path);
  CHECK(bytes.find(std::string("PK\x06\x06", 4)) != std::string::npos);  // ZIP64 end record
  CHECK(bytes.find(std::string("PK\x06\x07", 4)) != std::string::npos);  // and its locator
  core::ZipReader zip(path);
  REQUIRE(zip.entries().size() == members.size());
  CHECK(zip.entries()[0].uncompressed_size == ha.size() + 40);
  const auto loaded = core::load_npz(path, {"a", "b", "z65533"});
  CHECK(torch::equal(loaded.at("a"), a));
  CHECK(torch::equal(loaded.at("b"), b));
  CHECK(loaded.at("z65533").dim() == 0);
  CHECK(core::list_npz(path).size() == members.size());
  if (!test::numpy_python().empty()) {
    CHECK(test::run_python(dir, "check.py", "import zipfile\nd = '" + dir + "'\n" + R"(
assert zipfile.ZipFile(d + '/zip64.npz').testzip() is None
z = np.load(d + '/zip64.npz')
assert len(z.files) == 65536
assert (z['a'] == np.arange(10)).all() and z['a'].dtype == np.int32
assert z['b'].shape == (7, 3)
)") == 0);
  }
}

TEST_CASE("npz archives interoperate with numpy both ways", "[unit][npz]") {
  if (test::numpy_python().empty()) {
    test::skip_test("python3 with numpy not available");
  }
  const auto dir = test::scratch_dir("npz_numpy");
  REQUIRE(test::run_python(dir, "write.py", "d = '" + dir + "'\n" + R"(
images = (np.arange(64 * 16 * 16 * 3) * 7 % 251).astype(np.uint8).reshape(64, 16, 16, 3)
labels = np.arange(64) % 10
sigma = (np.arange(128 * 128, dtype=np.float64) / 3).reshape(128, 128)
np.savez(d + '/stored.npz', images, labels)
np.savez_compressed(d + '/deflated.npz', mu=np.arange(5, dtype=np.float64) / 7, sigma=sigma,
                    flags=np.arange(5) > 2, scalar=np.float32(0.5))
)") == 0);
  const auto images = (torch::arange(64 * 16 * 16 * 3) * 7 % 251).to(torch::kUInt8).reshape({64, 16, 16, 3});
  const auto stored = core::load_npz(dir + "/stored.npz");
  REQUIRE(stored.size() == 2);
  CHECK(torch::equal(stored.at("arr_0"), images));
  CHECK(torch::equal(stored.at("arr_1"), torch::arange(64, torch::kLong) % 10));
  const auto deflated = core::load_npz(dir + "/deflated.npz");
  CHECK(torch::equal(deflated.at("mu"), torch::arange(5, torch::kDouble) / 7));
  CHECK(torch::equal(deflated.at("sigma"), (torch::arange(128 * 128, torch::kDouble) / 3).reshape({128, 128})));
  CHECK(torch::equal(deflated.at("flags"), torch::arange(5) > 2));
  CHECK(deflated.at("scalar").dim() == 0);
  CHECK(deflated.at("scalar").item<float>() == 0.5f);
  for (const auto& m : core::list_npz(dir + "/deflated.npz")) CHECK(m.compressed);
  for (const auto& m : core::list_npz(dir + "/stored.npz")) CHECK_FALSE(m.compressed);

  core::save_npz(dir + "/fx_stored.npz", {{"arr_0", images}, {"arr_1", torch::arange(64) % 10}}, false);
  core::save_npz(dir + "/fx_deflated.npz",
                 {{"mu", torch::arange(5, torch::kDouble) / 7},
                  {"flags", torch::arange(5) > 2},
                  {"half", torch::arange(6, torch::kHalf)}},
                 true);
  CHECK(test::run_python(dir, "check.py", "import zipfile\nd = '" + dir + "'\n" + R"(
for name, method in (('fx_stored.npz', zipfile.ZIP_STORED), ('fx_deflated.npz', zipfile.ZIP_DEFLATED)):
    with zipfile.ZipFile(d + '/' + name) as z:
        assert z.testzip() is None
        assert all(i.compress_type == method for i in z.infolist())
z = np.load(d + '/fx_stored.npz')
assert sorted(z.files) == ['arr_0', 'arr_1']
assert (z['arr_0'] == (np.arange(64 * 16 * 16 * 3) * 7 % 251).astype(np.uint8).reshape(64, 16, 16, 3)).all()
assert z['arr_0'].dtype == np.uint8 and (z['arr_1'] == np.arange(64) % 10).all()
z = np.load(d + '/fx_deflated.npz')
assert (z['mu'] == np.arange(5, dtype=np.float64) / 7).all()
assert z['flags'].dtype == bool and (z['flags'] == (np.arange(5) > 2)).all()
assert z['half'].dtype == np.float16 and (z['half'] == np.arange(6)).all()
)") == 0);
}

TEST_CASE("npz rejects malformed archives naming the archive and member", "[unit][npz]") {
  const auto dir = test::scratch_dir("npz_bad");
  const auto arrays = core::ArrayMap{{"x", torch::arange(100, torch::kFloat)}};
  core::save_npz(dir + "/good_s.npz", arrays, false);
  core::save_npz(dir + "/good_d.npz", arrays, true);
  const std::string good_s = test::read_bytes(dir + "/good_s.npz");
  const std::string good_d = test::read_bytes(dir + "/good_d.npz");
  auto write = [&](const std::string& name, const std::string& bytes) {
    const std::string path = dir + "/" + name;
    test::write_bytes(path, bytes);
    return path;
  };

  expect_rejected(dir + "/missing.npz", {"cannot open"});
  expect_rejected(write("empty.npz", ""), {"not a zip archive"});
  expect_rejected(write("random.npz", std::string(1000, 'z')), {"end-of-central-directory"});
  expect_rejected(write("half.npz", good_d.substr(0, good_d.size() / 2)), {"end-of-central-directory"});
  // The directory survives but the member data is cut short.
  {
    std::string cut = good_s;
    const size_t cd = central_directory(cut);
    cut.erase(cd - 100, 100);
    put_le(cut, cut.size() - 22 + 16, cd - 100, 4);
    expect_rejected(write("cut_data.npz", cut), {"member 'x.npy'", "past the end"});
  }
  {
    std::string bad = good_s;
    bad[central_directory(bad) - 1] ^= 0x55;  // last data byte of the stored member
    expect_rejected(write("crc_stored.npz", bad), {"member 'x.npy'", "CRC-32 mismatch"});
  }
  {
    std::string bad = good_d;
    put_le(bad, central_directory(bad) + 16, le32(bad, central_directory(bad) + 16) ^ 1, 4);
    expect_rejected(write("crc_deflated.npz", bad), {"member 'x.npy'", "CRC-32 mismatch"});
  }
  {
    std::string bad = good_d;
    bad[central_directory(bad) - 5] ^= 0xff;
    expect_rejected(write("corrupt_deflate.npz", bad), {"member 'x.npy'"});
  }
  {
    std::string bad = good_s;
    put_le(bad, central_directory(bad) + 10, 12, 2);  // bzip2
    expect_rejected(write("method.npz", bad), {"member 'x.npy'", "unsupported compression method 12"});
  }
  {
    std::string bad = good_s;
    put_le(bad, central_directory(bad) + 42, 0x7fffffff, 4);
    expect_rejected(write("offset.npz", bad), {"member 'x.npy'", "past the end"});
  }
  {
    std::string bad = good_s;
    put_le(bad, bad.size() - 22 + 16, 0x7ffffff0, 4);  // central directory offset
    expect_rejected(write("cd_offset.npz", bad), {"central directory"});
  }
  {
    const std::string text = "not an array";
    const std::string path = dir + "/text_member.npz";
    write_zip_file(path, {{"notes.txt", {{text.data(), text.size()}}, false}});
    expect_rejected(path, {"member 'notes.txt' is not a .npy array"});
    CHECK_THROWS_WITH(core::list_npz(path), Catch::Contains("notes.txt"));
  }
  {
    // A directory and .npy header that agree on a 1 GiB array the deflated data cannot hold:
    // refused before anything that size is allocated.
    const std::string header = core::npy_header_bytes(torch::kDouble, {int64_t(1) << 27});
    const std::string zeros(64, '\0');
    const std::string path = dir + "/lying_size.npz";
    write_zip_file(path, {{"big.npy", {{header.data(), header.size()}, {zeros.data(), zeros.size()}}, true}});
    std::string bad = test::read_bytes(path);
    put_le(bad, central_directory(bad) + 24, header.size() + (uint64_t(1) << 30), 4);
    test::write_bytes(path, bad);
    expect_rejected(path, {"member 'big.npy'", "deflated bytes can hold"});
  }
  {
    const std::string npy = core::serialize_npy(torch::arange(4, torch::kFloat));
    const std::string cut = npy.substr(0, npy.size() - 4);
    const std::string path = dir + "/short_member.npz";
    write_zip_file(path, {{"v.npy", {{cut.data(), cut.size()}}, true}});
    expect_rejected(path, {"v.npy", "payload"});
  }
}

TEST_CASE("npz through libzip: empty archives, fixed timestamps, cut deflated data", "[unit][npz]") {
  const auto dir = test::scratch_dir("npz_libzip");
  // libzip writes no file at all for an archive without members; an empty .npz is one end record.
  core::save_npz(dir + "/empty.npz", {});
  CHECK(test::read_bytes(dir + "/empty.npz").size() == 22);
  CHECK(core::load_npz(dir + "/empty.npz").empty());
  // Local headers carry 1980-01-01 00:00 (libzip would stamp the current time): reproducible.
  core::save_npz(dir + "/d.npz", {{"x", torch::arange(100, torch::kFloat)}}, true);
  const std::string good = test::read_bytes(dir + "/d.npz");
  CHECK(le32(good, 10) == 0x00210000u);
  // The directory survives but the deflated data is cut short.
  std::string cut = good;
  const size_t cd = central_directory(cut);
  cut.erase(cd - 100, 100);
  put_le(cut, cut.size() - 22 + 16, cd - 100, 4);
  test::write_bytes(dir + "/cut.npz", cut);
  expect_rejected(dir + "/cut.npz", {"member 'x.npy'", "past the end"});
  if (!test::numpy_python().empty()) {
    CHECK(test::run_python(dir, "check.py", "d = '" + dir + "'\n" + R"(
assert np.load(d + '/empty.npz').files == []
assert (np.load(d + '/d.npz')['x'] == np.arange(100)).all()
)") == 0);
  }
}

TEST_CASE("npz loads a full ADM batch and a 2048x2048 covariance quickly", "[slow][npz]") {
  const auto dir = test::scratch_dir("npz_big");
  const auto batch = torch::randint(0, 256, {50000, 32, 32, 3}, torch::kUInt8);
  const auto sigma = torch::randn({2048, 2048}, torch::kDouble);
  for (bool compress : {false, true}) {
    INFO("compress " << compress);
    const std::string path = dir + "/ref.npz";
    core::save_npz(path, {{"arr_0", batch}, {"sigma", sigma}}, compress);
    const auto start = std::chrono::steady_clock::now();
    const auto loaded = core::load_npz(path);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    WARN("load_npz of " << test::read_bytes(path).size() / 1e6 << " MB took " << seconds << " s");
    CHECK(torch::equal(loaded.at("arr_0"), batch));
    CHECK(torch::equal(loaded.at("sigma"), sigma));
    CHECK(seconds < 20.0);
  }
}
