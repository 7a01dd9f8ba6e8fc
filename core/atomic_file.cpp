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
}  // namespace

void write_file_atomically(const std::string& path,
                           const std::function<void(std::ostream&)>& write) {
  const std::filesystem::path target(path);
  if (target.has_parent_path()) ensure_directory(target.parent_path().string());
  const std::string temp = path + ".tmp." + std::to_string(::getpid());
  try {
    {
      std::ofstream out(temp, std::ios::binary | std::ios::trunc);
      FLUXION_CHECK(out.good(), path, ": cannot open for writing: ", std::strerror(errno));
      write(out);
      out.flush();
      FLUXION_CHECK(out.good(), path, ": write failed (disk full?)");
    }
    fsync_path(temp, O_RDONLY);
    FLUXION_CHECK(std::rename(temp.c_str(), path.c_str()) == 0, path,
                  ": cannot rename temporary file into place: ", std::strerror(errno));
    // Make the rename itself durable.
    fsync_path(target.has_parent_path() ? target.parent_path().string() : ".",
               O_RDONLY | O_DIRECTORY);
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
