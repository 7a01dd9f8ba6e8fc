#include "metrics/weights_cache.h"

#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "core/checkpoint_convert.h"
#include "core/download.h"
#include "core/error.h"
#include "core/log.h"
#include "core/safetensors.h"
#include "core/sha256.h"

namespace fluxion::metrics {

namespace {
// pytorch-fid's FID weights. The file name carries the digest's first 8 digits (torch.hub's
// check_hash); the full digest is the one public evaluation code pins for this release file
// (95,628,359 bytes), and it begins with those 8 digits.
const PinnedWeights kInception{
    "inception",
    "pt_inception-2015-12-05.safetensors",
    "pt_inception-2015-12-05-6726825d.pth",
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth",
    "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2",
    true};

// DINOv2 ViT-L/14 (dgm-eval's network) in transformers' layout, at a fixed revision of the
// Hugging Face repository so that the bytes cannot change under the same address. The digest of
// that revision's model.safetensors (1,217,522,888 bytes), as two independent public projects pin
// it for the same revision.
const PinnedWeights kDinov2{
    "dinov2",
    "dinov2_vitl14.safetensors",
    "dinov2_vitl14.safetensors",
    "https://huggingface.co/facebook/dinov2-large/resolve/47b73eefe95e8d44ec3623f8890bd894b6ea2d6c/"
    "model.safetensors",
    "399fba97a95f22c36834418bc69373364a99af3a1153da1c0fb31db567c92e23",
    false};

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

std::string upper(std::string text) {
  for (auto& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

std::string source_url(const PinnedWeights& w) {
  std::string base = env("FLUXION_WEIGHTS_URL_BASE");
  if (base.empty()) return w.url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base + "/" + w.download_file;
}

std::string pinned_sha256(const PinnedWeights& w) {
  const std::string name = "FLUXION_WEIGHTS_SHA256_" + upper(w.name);
  const std::string pin = env(name.c_str());
  if (pin.empty()) return w.sha256;
  FLUXION_CHECK(pin.size() == 64 && pin.find_first_not_of("0123456789abcdefABCDEF") == std::string::npos, name, "=",
                pin, ": not a SHA-256 digest (64 hex digits)");
  return pin;
}

std::string join(const std::string& dir, const std::string& file) {
  return (std::filesystem::path(dir) / file).string();
}

// A probe file, since permission bits say nothing for root or a read-only mount.
void require_writable_cache(const std::string& dir, const PinnedWeights& w) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  std::string reason = ec ? ec.message() : std::filesystem::is_directory(dir) ? "" : "not a directory";
  if (reason.empty()) {
    const std::string probe = join(dir, ".write-test-" + std::to_string(::getpid()));
    const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
      reason = std::strerror(errno);
    } else {
      ::close(fd);
      ::unlink(probe.c_str());
    }
  }
  FLUXION_CHECK(reason.empty(), "cache folder ", dir, " is not writable (", reason, ") for the ", w.name,
                " weights: set FLUXION_CACHE to a writable folder, or pass --features ", w.name, ":FILE");
}

[[noreturn]] void fail_offline(const PinnedWeights& w, const std::string& dir) {
  fail(w.name, " weights ", join(dir, w.cached_file), " are not cached and downloads are off (--offline / ",
       "FLUXION_OFFLINE): fetch ", source_url(w), " and put it at ", join(dir, w.download_file),
       w.inception_pth ? " (fluxion converts it on first use)" : "", ", or pass --features ", w.name, ":FILE");
}

void download(const PinnedWeights& w, const std::string& path) {
  const std::string url = source_url(w);
  const std::string pin = pinned_sha256(w);
  core::log_info(concat("fetching the ", w.name, " weights: ", url, " -> ", path));
  core::remove_stale_partial_downloads(path);
  core::download_file({url, path, pin, w.download_file});
}

void convert_inception(const std::string& source, const std::string& target) {
  core::ConvertOptions options;
  options.input = source;
  options.output = target;
  options.inception = true;
  const auto summary = core::convert_torch_checkpoint(options);
  core::log_info(concat("converted ", summary.tensors, " tensors to ", target));
  std::error_code ec;
  std::filesystem::remove(source, ec);  // the safetensors file is what is used from now on
}
}  // namespace

const PinnedWeights* find_pinned_weights(const std::string& cached_file) {
  for (const auto* w : {&kInception, &kDinov2})
    if (w->cached_file == cached_file) return w;
  return nullptr;
}

bool weights_offline() {
  const std::string value = env("FLUXION_OFFLINE");
  return !(value.empty() || value == "0" || value == "false" || value == "no");
}

void set_weights_offline() { ::setenv("FLUXION_OFFLINE", "1", 1); }

std::string fetch_pinned_weights(const PinnedWeights& w, const std::string& cache_dir) {
  const std::string target = join(cache_dir, w.cached_file);
  if (std::filesystem::exists(target)) return target;
  const std::string source = join(cache_dir, w.download_file);
  if (w.inception_pth && std::filesystem::exists(source)) {
    // put there by hand, or left by a conversion that failed: the same check as a download
    const std::string pin = pinned_sha256(w);
    const std::string digest = core::sha256_file(source);
    FLUXION_CHECK(core::sha256_matches(digest, pin), source, ": SHA-256 mismatch: expected ", pin, ", got ", digest,
                  ": not the file fluxion expects; delete it (it is fetched again) ", "or pass --features ", w.name,
                  ":FILE");
  } else {
    if (weights_offline()) fail_offline(w, cache_dir);
    require_writable_cache(cache_dir, w);
    download(w, source);
  }
  if (w.inception_pth) {
    convert_inception(source, target);
  } else {
    try {  // a file that is not safetensors is not kept under the name the loader trusts
      core::read_safetensors_header(target);
    } catch (...) {
      std::error_code ec;
      std::filesystem::remove(target, ec);
      throw;
    }
  }
  return target;
}

}  // namespace fluxion::metrics
