#pragma once
// Files that are either fully written or not there at all: the content goes to a temporary file
// beside the target, is flushed and fsync'ed, then renamed over the target (atomic on POSIX).
#include <functional>
#include <ostream>
#include <string>

namespace fluxion::core {

// Calls write(stream) on a temporary sibling of `path`, then atomically renames it to `path`.
// If write throws or the disk fills, the target is untouched and the temporary file removed.
void write_file_atomically(const std::string& path, const std::function<void(std::ostream&)>& write);

// Creates `dir` and its parents if missing; throws fluxion::Error naming the directory on failure.
void ensure_directory(const std::string& dir);

}  // namespace fluxion::core
