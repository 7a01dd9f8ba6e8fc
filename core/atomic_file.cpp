#include "core/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"

namespace fluxion::core {

namespace {
void fsync_path(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

// Flushes the written file to the disk; a full disk or an I/O error can surface only here
// (delayed allocation), and the file must then not be renamed over the good one.
void fsync_written(const std::string& temp, const std::string& path) {
  const int fd = ::open(temp.c_str(), O_RDONLY);
  FLUXION_CHECK(fd >= 0, path, ": cannot reopen the written file: ", std::strerror(errno));
  const int synced = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  FLUXION_CHECK(synced == 0, path, ": write failed: ", std::strerror(error));
}
}  // namespace

void write_file_atomically(const std::string& path, const std::function<void(std::ostream&)>& write) {
  const std::filesystem::path target(path);
  if (target.has_parent_path()) ensure_directory(target.parent_path().string());
  const std::string temp = path + ".tmp." + std::to_string(::getpid());
  try {
    {
      std::ofstream out(temp, std::ios::binary | std::ios::trunc);
      FLUXION_CHECK(out.good(), path, ": cannot open for writing: ", std::strerror(errno));
      write(out);
      out.flush();
      FLUXION_CHECK(out.good(), path, ": write failed: ", std::strerror(errno));
      out.close();
      FLUXION_CHECK(!out.fail(), path, ": write failed: ", std::strerror(errno));
    }
    fsync_written(temp, path);
    FLUXION_CHECK(std::rename(temp.c_str(), path.c_str()) == 0, path,
                  ": cannot rename temporary file into place: ", std::strerror(errno));
    // Make the rename itself durable.
    fsync_path(target.has_parent_path() ? target.parent_path().string() : ".", O_RDONLY | O_DIRECTORY);
  } catch (...) {
    std::remove(temp.c_str());
    throw;
  }
}

void ensure_directory(const std::string& dir) {
  if (dir.empty()) return;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  FLUXION_CHECK(!ec && std::filesystem::is_directory(dir), dir,
                ": cannot create directory: ", ec ? ec.message() : "not a directory");
}

}  // namespace fluxion::core
