#include "core/download.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>

#include "core/error.h"
#include "core/progress.h"
#include "core/sha256.h"

namespace fluxion::core {

namespace {
constexpr int64_t kBytesPerUnit = 1000000;  // the progress bar counts MB

void init_curl_once() {
  static std::once_flag once;
  // curl_global_init is not thread-safe: once per process, before any handle.
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string partial_prefix(const std::string& path) {
  return std::filesystem::path(path).filename().string() + ".part-";
}

// What the write callback shares with the code around curl_easy_perform. Exceptions must not
// cross libcurl's C frames, so failures are recorded here and thrown after the transfer.
struct Transfer {
  CURL* curl = nullptr;
  std::FILE* file = nullptr;
  std::string label;
  Sha256 hash;
  int64_t bytes = 0;
  int64_t units_shown = 0;
  std::unique_ptr<Progress> progress;
  int write_errno = 0;
};

size_t on_data(char* data, size_t size, size_t count, void* user) {
  auto& t = *static_cast<Transfer*>(user);
  const size_t n = size * count;
  if (std::fwrite(data, 1, n, t.file) != n) {
    t.write_errno = errno ? errno : EIO;
    return 0;  // makes curl stop with CURLE_WRITE_ERROR
  }
  try {
    t.hash.update(data, n);
    t.bytes += static_cast<int64_t>(n);
    if (!t.progress) {  // the length is known once the headers are in
      curl_off_t length = -1;
      curl_easy_getinfo(t.curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
      const int64_t total = length > 0 ? (static_cast<int64_t>(length) + kBytesPerUnit - 1) / kBytesPerUnit : 0;
      t.progress = std::make_unique<Progress>(t.label, total, "MB");
    }
    const int64_t units = t.bytes / kBytesPerUnit;
    if (units > t.units_shown) {
      t.progress->update(units - t.units_shown);
      t.units_shown = units;
    }
  } catch (...) {
    t.write_errno = EIO;
    return 0;
  }
  return n;
}

std::string transfer_error(CURL* curl, CURLcode code, const char* detail, const Transfer& t,
                           const DownloadRequest& request, const std::string& temp) {
  if (code == CURLE_HTTP_RETURNED_ERROR) {
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    return concat("download ", request.url, ": HTTP ", status);
  }
  if (code == CURLE_WRITE_ERROR && t.write_errno != 0)
    return concat(temp, ": write failed after ", t.bytes, " bytes: ", std::strerror(t.write_errno));
  if (code == CURLE_PARTIAL_FILE) {
    curl_off_t length = -1;
    curl_easy_getinfo(curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
    return concat("download ", request.url, ": the connection closed after ", t.bytes, " of ",
                  length > 0 ? std::to_string(length) : std::string("?"), " bytes");
  }
  return concat("download ", request.url, ": ", *detail ? detail : curl_easy_strerror(code),
                t.bytes > 0 ? concat(" (after ", t.bytes, " bytes)") : std::string());
}

void set_protocols(CURL* curl) {
#if LIBCURL_VERSION_NUM >= 0x075500  // 7.85: the string form; the bitmask form is deprecated
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS, CURLPROTO_HTTP | CURLPROTO_HTTPS);
  curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS, CURLPROTO_HTTP | CURLPROTO_HTTPS);
#endif
}

// Runs the transfer into `file`; throws the one-line description of a failed one.
void transfer(const DownloadRequest& request, const std::string& temp, Transfer& t) {
  init_curl_once();
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
  FLUXION_CHECK(curl, "download ", request.url, ": libcurl could not start");
  t.curl = curl.get();
  char detail[CURL_ERROR_SIZE] = {0};
  const std::string agent = concat("fluxion/", FLUXION_VERSION);
  curl_easy_setopt(t.curl, CURLOPT_URL, request.url.c_str());
  set_protocols(t.curl);
  curl_easy_setopt(t.curl, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(t.curl, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(t.curl, CURLOPT_FAILONERROR, 1L);  // an HTTP error status is an error, not a body
  curl_easy_setopt(t.curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(t.curl, CURLOPT_USERAGENT, agent.c_str());
  curl_easy_setopt(t.curl, CURLOPT_CONNECTTIMEOUT, 30L);
  // a stalled connection (under 1 kB/s for a minute) fails instead of hanging
  curl_easy_setopt(t.curl, CURLOPT_LOW_SPEED_LIMIT, 1024L);
  curl_easy_setopt(t.curl, CURLOPT_LOW_SPEED_TIME, 60L);
  curl_easy_setopt(t.curl, CURLOPT_ERRORBUFFER, detail);
  curl_easy_setopt(t.curl, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(t.curl, CURLOPT_WRITEDATA, &t);
  const CURLcode code = curl_easy_perform(t.curl);
  if (code != CURLE_OK) fail(transfer_error(t.curl, code, detail, t, request, temp));
  if (t.progress) {  // the last, partial megabyte too
    t.progress->update((t.bytes + kBytesPerUnit - 1) / kBytesPerUnit - t.units_shown);
    t.progress->finish();
  }
}
}  // namespace

void remove_stale_partial_downloads(const std::string& path) {
  const std::filesystem::path target(path);
  const auto folder = target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
  const std::string prefix = partial_prefix(path);
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(folder, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    char* end = nullptr;
    const long pid = std::strtol(name.c_str() + prefix.size(), &end, 10);
    if (pid <= 0 || *end != '\0') continue;
    if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) std::filesystem::remove(entry.path(), ec);
  }
}

DownloadResult download_file(const DownloadRequest& request) {
  const std::filesystem::path target(request.path);
  const std::string folder = target.has_parent_path() ? target.parent_path().string() : ".";
  const std::string temp =
      (std::filesystem::path(folder) / (partial_prefix(request.path) + std::to_string(::getpid()))).string();
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  FLUXION_CHECK(fd >= 0, folder, ": cannot write the download of ", request.url, " there: ", std::strerror(errno));
  Transfer t;
  t.file = ::fdopen(fd, "wb");
  if (!t.file) ::close(fd);
  t.label = request.label.empty() ? target.filename().string() : request.label;
  try {
    FLUXION_CHECK(t.file, temp, ": cannot open: ", std::strerror(errno));
    transfer(request, temp, t);
    const bool flushed = std::fflush(t.file) == 0 && ::fsync(::fileno(t.file)) == 0;
    const int flush_errno = errno;
    const bool closed = std::fclose(t.file) == 0;
    t.file = nullptr;
    FLUXION_CHECK(flushed && closed, temp, ": write failed after ", t.bytes,
                  " bytes: ", std::strerror(flush_errno ? flush_errno : EIO), " (disk full?)");
    DownloadResult result{t.hash.hex_digest(), t.bytes};
    FLUXION_CHECK(request.sha256.empty() || sha256_matches(result.sha256, request.sha256), "download ", request.url,
                  ": SHA-256 mismatch: expected ", request.sha256, ", got ", result.sha256, " (", result.bytes,
                  " bytes, discarded)");
    FLUXION_CHECK(std::rename(temp.c_str(), request.path.c_str()) == 0, request.path,
                  ": cannot move the download into place: ", std::strerror(errno));
    const int dir = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY);  // make the rename durable
    if (dir >= 0) {
      ::fsync(dir);
      ::close(dir);
    }
    return result;
  } catch (...) {
    if (t.file) std::fclose(t.file);
    std::remove(temp.c_str());
    throw;
  }
}

}  // namespace fluxion::core
