#pragma once
// HTTP(S) downloads with libcurl into files that appear only complete and verified: the bytes go
// to a temporary sibling (NAME.part-PID), are hashed while they arrive, and are renamed onto the
// target only after the transfer finished and the SHA-256 matched the pin. Any failure removes the
// temporary file and throws one line: the URL and HTTP status, a connection closed after N of M
// bytes, the expected and the actual digest, a folder that cannot be written. Redirects are
// followed (GitHub release assets and Hugging Face files redirect to their CDNs); only http and
// https are spoken. A progress bar (core/progress.h) shows megabytes on stderr.
#include <cstdint>
#include <string>

namespace fluxion::core {

struct DownloadRequest {
  std::string url;
  std::string path;    // where the verified file goes; its folder must exist
  std::string sha256;  // the pin: the full hex digest or a prefix of it; "" accepts any content
  std::string label;   // of the progress bar; default: the file name
};

struct DownloadResult {
  std::string sha256;  // of what was received
  int64_t bytes = 0;
};

DownloadResult download_file(const DownloadRequest& request);

// Removes NAME.part-PID files beside `path` left by processes that no longer run (killed in the
// middle of a download); partial files of running downloads are left alone.
void remove_stale_partial_downloads(const std::string& path);

}  // namespace fluxion::core
