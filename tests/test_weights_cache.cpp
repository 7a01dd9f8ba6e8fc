// End-to-end: feature-network weights fetched on first use (metrics/weights_cache). A local HTTP
// server (tests/local_http_server.h) stands in for GitHub and Hugging Face; FLUXION_WEIGHTS_URL_BASE
// points fluxion at it and FLUXION_WEIGHTS_SHA256_<NAME> pins the digest of the test's files. The
// Inception file is a legacy-format torch.save of the golden fill rule's weights, written here, so
// the whole path runs: download, SHA-256, C++ conversion, feature extraction. Every failure is one
// line and leaves nothing in the cache.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "core/image_io.h"
#include "core/safetensors.h"
#include "core/sha256.h"
#include "local_http_server.h"
#include "metrics/dinov2.h"
#include "metrics/inception_fid.h"
#include "metrics/stats_file.h"
#include "metrics/weight_fill.h"
#include "test_helpers.h"

using namespace fluxion;

namespace {
const std::string kInceptionPth = "pt_inception-2015-12-05-6726825d.pth";
const std::string kInceptionCached = "pt_inception-2015-12-05.safetensors";
const std::string kInceptionUrl =
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth";
const std::string kOfficialInceptionSha256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2";
const std::string kOfficialDinov2Sha256 = "399fba97a95f22c36834418bc69373364a99af3a1153da1c0fb31db567c92e23";
const std::string kDinov2Cached = "dinov2_vitl14.safetensors";

// torch.save(state_dict, f, _use_new_zipfile_serialization=False) for float32 and int64 CPU
// tensors: pickles of the magic number, the protocol version, the system info, the dict (each
// tensor a torch._utils._rebuild_tensor_v2 call on a persistent storage id), the storage keys;
// then every storage as its int64 element count and raw little-endian bytes.
class LegacyTorchSave {
 public:
  std::string operator()(const core::TensorMap& tensors) {
    out_.clear();
    begin();
    out_ += '\x8a';  // LONG1: torch.serialization.MAGIC_NUMBER, 10 bytes
    out_ += '\x0a';
    out_ += std::string("\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19", 10);
    end();
    begin();
    integer(1001);
    end();
    begin();
    out_ += "}(";
    text("protocol_version");
    integer(1001);
    text("little_endian");
    out_ += '\x88';  // True
    text("type_sizes");
    out_ += "}(";
    for (const auto& [name, size] : {std::pair<const char*, int>{"short", 2}, {"int", 4}, {"long", 4}}) {
      text(name);
      integer(size);
    }
    out_ += "uu";
    end();
    begin();
    out_ += "}(";
    int key = 0;
    for (const auto& [name, tensor] : tensors) {
      text(name);
      tensor_value(tensor, std::to_string(key++));
    }
    out_ += 'u';
    end();
    begin();
    out_ += "](";
    for (int i = 0; i < key; ++i) text(std::to_string(i));
    out_ += 'e';
    end();
    for (const auto& [name, tensor] : tensors) {
      const auto values = tensor.contiguous();
      const int64_t count = values.numel();
      out_.append(reinterpret_cast<const char*>(&count), 8);  // little-endian host
      out_.append(static_cast<const char*>(values.data_ptr()), values.numel() * values.element_size());
    }
    return out_;
  }

 private:
  void begin() { out_ += "\x80\x02"; }  // PROTO 2
  void end() { out_ += '.'; }           // STOP
  void integer(int64_t v) {             // BININT: 4-byte signed
    out_ += 'J';
    const auto u = static_cast<uint32_t>(static_cast<int32_t>(v));
    for (int i = 0; i < 4; ++i) out_ += static_cast<char>((u >> (8 * i)) & 0xFF);
  }
  void text(const std::string& s) {  // BINUNICODE
    out_ += 'X';
    const auto n = static_cast<uint32_t>(s.size());
    for (int i = 0; i < 4; ++i) out_ += static_cast<char>((n >> (8 * i)) & 0xFF);
    out_ += s;
  }
  void global(const std::string& module, const std::string& name) { out_ += "c" + module + "\n" + name + "\n"; }
  void tensor_value(const torch::Tensor& t, const std::string& key) {
    REQUIRE((t.scalar_type() == torch::kFloat || t.scalar_type() == torch::kLong));
    global("torch._utils", "_rebuild_tensor_v2");
    out_ += '(';
    out_ += '(';  // persistent id: ('storage', type, key, location, numel, view)
    text("storage");
    global("torch", t.scalar_type() == torch::kFloat ? "FloatStorage" : "LongStorage");
    text(key);
    text("cpu");
    integer(t.numel());
    out_ += "NtQ";  // None, TUPLE, BINPERSID
    integer(0);     // storage offset
    out_ += '(';
    for (const auto size : t.sizes()) integer(size);
    out_ += 't';
    out_ += '(';
    for (const auto stride : t.contiguous().strides()) integer(stride);
    out_ += 't';
    out_ += '\x89';  // requires_grad False
    global("collections", "OrderedDict");
    out_ += ")R";  // OrderedDict()
    out_ += "tR";
  }
  std::string out_;
};

template <typename Module>
core::TensorMap state_of(Module& module) {
  core::TensorMap weights;
  for (const auto& item : module->named_parameters()) weights[item.key()] = item.value().detach().clone();
  for (const auto& item : module->named_buffers()) weights[item.key()] = item.value().detach().clone();
  return weights;
}

// The golden fill rule's FID Inception (as tools/bench/filled_inception.py), once per process:
// its tensors, the pytorch-fid-style .pth bytes and their digest.
struct FilledInception {
  core::TensorMap weights;
  std::string pth;
  std::string sha256;
};

const FilledInception& filled_inception() {
  static const FilledInception f = [] {
    metrics::InceptionFid net;
    metrics::fill_module(*net, std::sqrt(2.0));
    FilledInception out;
    out.weights = state_of(net);
    out.pth = LegacyTorchSave()(out.weights);
    out.sha256 = core::sha256_hex(out.pth);
    return out;
  }();
  return f;
}

std::vector<std::string> listing(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec))
    names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// Two small images, enough for statistics to be computed.
std::string image_folder(const std::string& dir) {
  std::filesystem::create_directories(dir + "/images");
  for (int i = 0; i < 2; ++i) {
    auto gen = at::detail::createCPUGenerator(static_cast<uint64_t>(i + 1));
    const auto image = (torch::rand({3, 28, 28}, gen, torch::kFloat) * 255).to(torch::kUInt8);
    core::write_png(dir + "/images/" + std::to_string(i) + ".png", image);
  }
  return dir + "/images";
}

// `fluxion stats` with a clean weights environment plus `env` ("NAME=VALUE ...").
test::CommandResult stats(const std::string& env, const std::string& cache, const std::string& images,
                          const std::string& features, const std::string& output, const std::string& extra = "") {
  return test::run_shell(
      "env -u FLUXION_OFFLINE -u FLUXION_WEIGHTS_URL_BASE -u FLUXION_WEIGHTS_SHA256_INCEPTION "
      "-u FLUXION_WEIGHTS_SHA256_DINOV2 FLUXION_CACHE=" +
      cache + " " + env + " " + FLUXION_BINARY + " stats --device cpu --batch 2 --images " + images + " --features " +
      features + " -o " + output + " " + extra);
}

// The last line of the output is main's one-line error.
std::string error_line(const test::CommandResult& r) {
  const auto at = r.output.rfind("fluxion: error: ");
  REQUIRE(at != std::string::npos);
  const std::string line = r.output.substr(at);
  CHECK(line.find('\n') == line.size() - 1);  // one line, and nothing after it
  return line;
}
}  // namespace

TEST_CASE("fluxion stats fetches, verifies and converts the Inception weights on first use", "[e2e][weights]") {
  const auto& inception = filled_inception();
  test::LocalHttpServer server;
  server.serve("/mirror/" + kInceptionPth, inception.pth);
  const auto dir = test::scratch_dir("weights_inception");
  const auto images = image_folder(dir);
  const auto cache = dir + "/cache";
  const std::string env =
      "FLUXION_WEIGHTS_URL_BASE=" + server.url("/mirror") + " FLUXION_WEIGHTS_SHA256_INCEPTION=" + inception.sha256;

  auto first = stats(env, cache, images, "inception", dir + "/fetched.npz");
  INFO(first.output);
  REQUIRE(first.exit_code == 0);
  CHECK(server.requests("/mirror/" + kInceptionPth) == 1);
  // only the converted file stays; it holds the served tensors as they are
  CHECK(listing(cache) == std::vector<std::string>{kInceptionCached});
  const auto cached = core::load_safetensors(cache + "/" + kInceptionCached);
  REQUIRE(cached.size() == inception.weights.size());
  for (const auto& [name, value] : inception.weights) CHECK(torch::equal(cached.at(name), value));

  // the same statistics as with the weights given directly
  const auto direct = dir + "/direct.safetensors";
  core::save_safetensors(direct, inception.weights);
  auto given = stats("", dir + "/unused-cache", images, "inception:" + direct, dir + "/direct.npz");
  INFO(given.output);
  REQUIRE(given.exit_code == 0);
  CHECK(
      torch::equal(metrics::load_stats_npz(dir + "/fetched.npz").mu, metrics::load_stats_npz(dir + "/direct.npz").mu));
  CHECK_FALSE(std::filesystem::exists(dir + "/unused-cache"));  // an explicit file needs no cache

  // from now on nothing is fetched: offline, and with the server's address unreachable
  auto offline = stats("FLUXION_WEIGHTS_URL_BASE=http://127.0.0.1:1/none", cache, images, "inception",
                       dir + "/offline.npz", "--offline");
  INFO(offline.output);
  CHECK(offline.exit_code == 0);
  CHECK(server.requests("/mirror/" + kInceptionPth) == 1);
}

TEST_CASE("offline with nothing cached says what to fetch, from where and where to put it", "[e2e][weights]") {
  test::LocalHttpServer server;
  const auto dir = test::scratch_dir("weights_offline");
  const auto images = image_folder(dir);
  const auto cache = dir + "/cache";

  auto flag = stats("", cache, images, "inception", dir + "/s.npz", "--offline");
  CHECK(flag.exit_code != 0);
  const auto line = error_line(flag);
  CHECK(line.find("downloads are off") != std::string::npos);
  CHECK(line.find("fetch " + kInceptionUrl) != std::string::npos);
  CHECK(line.find("put it at " + cache + "/" + kInceptionPth) != std::string::npos);
  CHECK(line.find("--features inception:FILE") != std::string::npos);

  auto env = stats("FLUXION_OFFLINE=1 FLUXION_WEIGHTS_URL_BASE=" + server.url("/mirror"), cache, images, "dinov2",
                   dir + "/s.npz");
  CHECK(env.exit_code != 0);
  const auto dinov2_line = error_line(env);
  CHECK(dinov2_line.find("fetch " + server.url("/mirror/" + kDinov2Cached)) != std::string::npos);
  CHECK(dinov2_line.find("put it at " + cache + "/" + kDinov2Cached) != std::string::npos);
  CHECK(server.requests("/mirror/" + kDinov2Cached) == 0);  // offline means no connection at all
  CHECK(listing(cache).empty());
  CHECK_FALSE(std::filesystem::exists(dir + "/s.npz"));
}

TEST_CASE("a pytorch-fid .pth put into the cache by hand is verified, then converted offline", "[e2e][weights]") {
  const auto& inception = filled_inception();
  const auto dir = test::scratch_dir("weights_by_hand");
  const auto images = image_folder(dir);
  const std::string pin = "FLUXION_WEIGHTS_SHA256_INCEPTION=" + inception.sha256;

  // a file that is not the pinned one is refused, and left for the user to look at
  const auto tampered_cache = dir + "/tampered";
  std::string tampered = inception.pth;
  tampered[tampered.size() / 2] ^= 1;
  std::filesystem::create_directories(tampered_cache);
  test::write_bytes(tampered_cache + "/" + kInceptionPth, tampered);
  auto refused = stats(pin, tampered_cache, images, "inception", dir + "/t.npz", "--offline");
  CHECK(refused.exit_code != 0);
  const auto line = error_line(refused);
  CHECK(line.find("SHA-256 mismatch: expected " + inception.sha256 + ", got " + core::sha256_hex(tampered)) !=
        std::string::npos);
  CHECK(listing(tampered_cache) == std::vector<std::string>{kInceptionPth});

  const auto cache = dir + "/cache";
  std::filesystem::create_directories(cache);
  test::write_bytes(cache + "/" + kInceptionPth, inception.pth);
  auto r = stats(pin, cache, images, "inception-adm", dir + "/s.npz", "--offline");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(listing(cache) == std::vector<std::string>{kInceptionCached});
}

TEST_CASE("a wrong checksum, an HTTP error, a dropped connection, a read-only cache: one line, nothing cached",
          "[e2e][weights]") {
  const auto& inception = filled_inception();
  test::LocalHttpServer server;
  server.serve("/mirror/" + kInceptionPth, inception.pth);
  server.serve("/drop/" + kInceptionPth, inception.pth, /*drop_midway=*/true);
  const auto dir = test::scratch_dir("weights_failures");
  const auto images = image_folder(dir);
  const auto cache = dir + "/cache";
  const std::string pin = " FLUXION_WEIGHTS_SHA256_INCEPTION=" + inception.sha256;
  auto fails_with = [&](const std::string& env, const std::vector<std::string>& fragments,
                        const std::string& in_cache) {
    auto r = stats(env, in_cache, images, "inception", dir + "/s.npz");
    INFO(r.output);
    CHECK(r.exit_code != 0);
    const auto line = error_line(r);
    for (const auto& fragment : fragments) CHECK(line.find(fragment) != std::string::npos);
    CHECK(listing(in_cache).empty());
    CHECK_FALSE(std::filesystem::exists(dir + "/s.npz"));
  };

  // the built-in pin is the official file's: the test's file is refused by it
  const auto mirror = server.url("/mirror");
  fails_with("FLUXION_WEIGHTS_URL_BASE=" + mirror,
             {mirror + "/" + kInceptionPth, "SHA-256 mismatch", "expected " + kOfficialInceptionSha256,
              "got " + inception.sha256},
             cache);
  fails_with("FLUXION_WEIGHTS_URL_BASE=" + server.url("/missing") + pin,
             {server.url("/missing/" + kInceptionPth), "HTTP 404"}, cache);
  fails_with(
      "FLUXION_WEIGHTS_URL_BASE=" + server.url("/drop") + pin,
      {server.url("/drop/" + kInceptionPth), "connection closed after " + std::to_string(inception.pth.size() / 2) +
                                                 " of " + std::to_string(inception.pth.size()) + " bytes"},
      cache);
  fails_with("FLUXION_WEIGHTS_URL_BASE=" + mirror + " FLUXION_WEIGHTS_SHA256_INCEPTION=6726825d",
             {"FLUXION_WEIGHTS_SHA256_INCEPTION=6726825d: not a SHA-256 digest"}, cache);

  // read-only: permission bits bind everyone but root, so root runs fluxion as nobody
  const auto readonly = dir + "/readonly";
  std::filesystem::create_directories(readonly);
  ::chmod(readonly.c_str(), 0555);
  std::string as_user;
  if (::geteuid() == 0) {
    if (test::run_shell("command -v setpriv").exit_code != 0) test::skip_test("running as root without setpriv");
    as_user = "setpriv --reuid=65534 --regid=65534 --clear-groups ";
  }
  auto r = test::run_shell(as_user + "env -u FLUXION_OFFLINE FLUXION_CACHE=" + readonly + " FLUXION_WEIGHTS_URL_BASE=" +
                           mirror + pin + " " + FLUXION_BINARY + " stats --device cpu --images " + images +
                           " --features inception -o /tmp/fluxion-never-written.npz");
  INFO(r.output);
  CHECK(r.exit_code != 0);
  const auto line = error_line(r);
  CHECK(line.find("cache folder " + readonly + " is not writable") != std::string::npos);
  CHECK(line.find("FLUXION_CACHE") != std::string::npos);
  CHECK(listing(readonly).empty());
  CHECK(server.requests("/mirror/" + kInceptionPth) == 1);  // only the wrong-checksum run got that far
  ::chmod(readonly.c_str(), 0755);
}

TEST_CASE("DINOv2 weights are fetched into the cache as they are and used", "[e2e][weights][dinov2]") {
  metrics::Dinov2Config config;
  config.hidden_size = 64;
  config.num_layers = 2;
  config.num_heads = 1;  // what the loader infers for 64 channels without a config
  config.image_size = 224;
  metrics::Dinov2 net(config);
  metrics::fill_module(*net);
  const auto dir = test::scratch_dir("weights_dinov2");
  const auto images = image_folder(dir);
  core::save_safetensors(dir + "/tiny.safetensors", state_of(net));
  const auto bytes = test::read_bytes(dir + "/tiny.safetensors");
  test::LocalHttpServer server;
  server.serve("/mirror/" + kDinov2Cached, bytes);
  const auto cache = dir + "/cache";
  const std::string base = "FLUXION_WEIGHTS_URL_BASE=" + server.url("/mirror");

  // an explicit file is never fetched, even where the cache's file would be
  auto explicit_missing = stats(base, cache, images, "dinov2:" + dir + "/absent.safetensors", dir + "/s.npz");
  CHECK(explicit_missing.exit_code != 0);
  CHECK(error_line(explicit_missing).find("absent.safetensors does not exist") != std::string::npos);
  CHECK(server.requests("/mirror/" + kDinov2Cached) == 0);

  auto r = stats(base + " FLUXION_WEIGHTS_SHA256_DINOV2=" + core::sha256_hex(bytes), cache, images, "dinov2",
                 dir + "/s.npz");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(listing(cache) == std::vector<std::string>{kDinov2Cached});
  CHECK(test::read_bytes(cache + "/" + kDinov2Cached) == bytes);
  CHECK(metrics::load_stats_npz(dir + "/s.npz").mu.size(0) == 64);

  // without an override the built-in pin is the official file's: the test's file is refused by
  // it and nothing is cached
  const auto pinned_cache = dir + "/pinned";
  auto refused = stats(base, pinned_cache, images, "dinov2", dir + "/u.npz");
  INFO(refused.output);
  CHECK(refused.exit_code != 0);
  const auto line = error_line(refused);
  CHECK(line.find("SHA-256 mismatch: expected " + kOfficialDinov2Sha256 + ", got " + core::sha256_hex(bytes)) !=
        std::string::npos);
  CHECK(listing(pinned_cache).empty());
  CHECK_FALSE(std::filesystem::exists(dir + "/u.npz"));
}
