#pragma once
// Zip archives for NumPy's .npz files, through libzip: stored (method 0) and deflated (method 8)
// members, ZIP64 where sizes, offsets or the member count need it, CRC-32 checked on every full
// read. libzip treats the central directory as authoritative (as Python's zipfile does).
//
// This layer adds what libzip leaves to its caller: members are read straight into the caller's
// memory, the uncompressed size is held to the directory's claim (libzip does not check it for
// deflated members), compression methods other than stored/deflate and encryption are refused,
// and every error is one line naming the archive and, where it applies, the member.
#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

struct zip;       // libzip's zip_t
struct zip_file;  // libzip's zip_file_t

namespace fluxion::core {

struct ZipEntry {
  uint64_t index = 0;  // position in the central directory
  std::string name;
  uint16_t method = 0;  // 0 stored, 8 deflated
  bool encrypted = false;
  uint32_t crc32 = 0;
  uint64_t compressed_size = 0;
  uint64_t uncompressed_size = 0;
};

class ZipReader {
 public:
  // Opens the archive and reads its central directory.
  explicit ZipReader(const std::string& path);
  ~ZipReader();
  ZipReader(const ZipReader&) = delete;
  ZipReader& operator=(const ZipReader&) = delete;

  const std::string& path() const { return path_; }
  const std::vector<ZipEntry>& entries() const { return entries_; }
  // nullptr when the archive has no member of that name.
  const ZipEntry* find(const std::string& name) const;

  // The whole uncompressed member, CRC checked.
  std::string read_all(const ZipEntry& entry) const;

 private:
  friend class ZipEntryStream;
  std::string path_;
  zip* archive_ = nullptr;
  std::vector<ZipEntry> entries_;
};

// Sequential reader of one member's uncompressed bytes: read() delivers straight into the
// destination (a tensor's storage); finish() checks that the member was read completely and its
// CRC-32. Several streams of one reader may be open at once (single-threaded).
class ZipEntryStream {
 public:
  ZipEntryStream(const ZipReader& archive, const ZipEntry& entry);
  ~ZipEntryStream();
  ZipEntryStream(const ZipEntryStream&) = delete;
  ZipEntryStream& operator=(const ZipEntryStream&) = delete;

  // Exactly n bytes into dest; throws if the member holds fewer.
  void read(void* dest, size_t n);
  uint64_t remaining() const { return entry_.uncompressed_size - produced_; }
  void finish();

 private:
  [[noreturn]] void fail_with_libzip_error(const char* doing) const;

  const ZipEntry& entry_;
  std::string where_;  // "<archive>: member '<name>'"
  zip_file* file_ = nullptr;
  uint64_t produced_ = 0;
};

// One member to write: its bytes are the concatenation of `pieces` (nothing is copied).
struct ZipPiece {
  const void* data;
  size_t size;
};
struct ZipMemberSpec {
  std::string name;
  std::vector<ZipPiece> pieces;
  bool deflate = false;  // at zlib's default level, as np.savez_compressed
};

// Writes a complete archive to `out`, which must be seekable (libzip patches each local header
// once its member is written). Timestamps are fixed (1980-01-01) so archives are reproducible.
void write_zip(std::ostream& out, const std::vector<ZipMemberSpec>& members,
               const std::string& path_for_errors = "zip archive");

}  // namespace fluxion::core
