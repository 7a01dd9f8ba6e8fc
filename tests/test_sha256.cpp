// SHA-256 through OpenSSL: FIPS 180-2's test vectors, streaming in uneven pieces equals hashing at
// once, files hash as their bytes, and pins match as full digests or prefixes.
#include <catch2/catch.hpp>

#include "core/error.h"
#include "core/sha256.h"
#include "test_helpers.h"

using namespace fluxion;

TEST_CASE("SHA-256 gives the FIPS 180-2 digests", "[unit][sha256]") {
  CHECK(core::sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(core::sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(core::sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(core::sha256_hex(std::string(1000000, 'a')) ==
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("SHA-256 streams: pieces, files and pins", "[unit][sha256]") {
  std::string bytes;
  for (int64_t i = 0; i < 300000; ++i) bytes += static_cast<char>((i * 7919) % 251);
  const auto whole = core::sha256_hex(bytes);
  core::Sha256 pieces;
  size_t at = 0;
  for (size_t n = 1; at < bytes.size(); n = n * 3 + 1) {  // 1, 4, 13, ... bytes at a time
    const size_t take = std::min(n, bytes.size() - at);
    pieces.update(bytes.data() + at, take);
    at += take;
  }
  CHECK(pieces.hex_digest() == whole);

  const auto file = test::scratch_dir("sha256") + "/bytes.bin";
  test::write_bytes(file, bytes);
  CHECK(core::sha256_file(file) == whole);
  test::expect_one_line_error([&] { core::sha256_file(file + ".missing"); }, {"bytes.bin.missing", "cannot open"});

  CHECK(core::sha256_matches(whole, whole));
  CHECK(core::sha256_matches(whole, whole.substr(0, 8)));  // torch.hub's file-name prefix
  std::string upper = whole;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  CHECK(core::sha256_matches(whole, upper));
  CHECK_FALSE(core::sha256_matches(whole, ""));
  CHECK_FALSE(core::sha256_matches(whole, whole + "0"));
  CHECK_FALSE(core::sha256_matches(whole, core::sha256_hex("other")));
}
