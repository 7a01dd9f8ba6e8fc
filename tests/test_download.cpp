// Downloads from a local HTTP server (tests/local_http_server.h): a verified file appears under
// its name and nothing else is left; a wrong checksum, an HTTP error, a dropped connection and an
// unwritable folder each fail with one line and leave the folder as it was.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "core/download.h"
#include "core/error.h"
#include "core/sha256.h"
#include "local_http_server.h"
#include "test_helpers.h"

using namespace fluxion;

namespace {
std::string pseudo_random_bytes(size_t n) {
  std::string out(n, '\0');
  uint64_t x = 0x9E3779B97F4A7C15ull;
  for (auto& c : out) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    c = static_cast<char>(x);
  }
  return out;
}

std::vector<std::string> listing(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}
}  // namespace

TEST_CASE("download_file writes the verified file under its name and nothing else", "[unit][download]") {
  test::LocalHttpServer server;
  const auto body = pseudo_random_bytes(3 * 1000 * 1000 + 17);
  const auto digest = core::sha256_hex(body);
  server.serve("/w/weights.bin", body);
  const auto dir = test::scratch_dir("download_ok");

  const auto result = core::download_file({server.url("/w/weights.bin"), dir + "/weights.bin", digest, ""});
  CHECK(result.sha256 == digest);
  CHECK(result.bytes == static_cast<int64_t>(body.size()));
  CHECK(test::read_bytes(dir + "/weights.bin") == body);
  CHECK(listing(dir) == std::vector<std::string>{"weights.bin"});

  // a prefix pin (torch.hub's 8 digits) and no pin at all are accepted too
  core::download_file({server.url("/w/weights.bin"), dir + "/prefix.bin", digest.substr(0, 8), ""});
  const auto unpinned = core::download_file({server.url("/w/weights.bin"), dir + "/any.bin", "", ""});
  CHECK(unpinned.sha256 == digest);
  CHECK(listing(dir) == std::vector<std::string>{"any.bin", "prefix.bin", "weights.bin"});
}

TEST_CASE("download_file failures are one line each and leave nothing behind", "[unit][download]") {
  test::LocalHttpServer server;
  const auto body = pseudo_random_bytes(2 * 1000 * 1000);
  const auto digest = core::sha256_hex(body);
  server.serve("/ok.bin", body);
  server.serve("/dropped.bin", body, /*drop_midway=*/true);
  const auto dir = test::scratch_dir("download_fail");
  const auto target = dir + "/weights.bin";

  SECTION("wrong checksum: expected and got") {
    const auto wrong = core::sha256_hex("something else");
    test::expect_one_line_error(
        [&] {
          core::download_file({server.url("/ok.bin"), target, wrong, ""});
        },
        {server.url("/ok.bin"), "SHA-256 mismatch", "expected " + wrong, "got " + digest});
  }
  SECTION("HTTP error: the URL and the status") {
    test::expect_one_line_error(
        [&] {
          core::download_file({server.url("/nothing.bin"), target, digest, ""});
        },
        {server.url("/nothing.bin"), "HTTP 404"});
  }
  SECTION("dropped connection: how far it got") {
    test::expect_one_line_error(
        [&] {
          core::download_file({server.url("/dropped.bin"), target, digest, ""});
        },
        {server.url("/dropped.bin"), "connection closed after 1000000 of 2000000 bytes"});
  }
  SECTION("nothing listening") {
    std::string url;
    {
      test::LocalHttpServer gone;
      url = gone.url("/ok.bin");
    }
    test::expect_one_line_error([&] { core::download_file({url, target, digest, ""}); }, {url});
  }
  SECTION("a folder that cannot be written") {
    // Permission bits do not bind root; a folder inside /proc cannot be written by anyone.
    const std::string folder = ::geteuid() == 0 ? "/proc/fluxion-no-such-folder" : dir + "/readonly";
    if (::geteuid() != 0) {
      std::filesystem::create_directories(folder);
      ::chmod(folder.c_str(), 0555);
    }
    test::expect_one_line_error(
        [&] {
          core::download_file({server.url("/ok.bin"), folder + "/weights.bin", digest, ""});
        },
        {folder, "cannot write"});
    if (::geteuid() != 0) ::chmod(folder.c_str(), 0755);
    std::filesystem::remove_all(dir + "/readonly");
  }
  CHECK(listing(dir).empty());
}

TEST_CASE("partial downloads of processes that are gone are cleaned up", "[unit][download]") {
  const auto dir = test::scratch_dir("download_stale");
  const auto target = dir + "/weights.bin";
  const auto mine = target + ".part-" + std::to_string(::getpid());
  test::write_bytes(mine, "in progress");
  test::write_bytes(target + ".part-2147483646", "left by a killed process");  // no such pid
  test::write_bytes(dir + "/other.bin.part-2147483646", "another file's");
  core::remove_stale_partial_downloads(target);
  CHECK(listing(dir) ==
        std::vector<std::string>{"other.bin.part-2147483646", "weights.bin.part-" + std::to_string(::getpid())});
}
