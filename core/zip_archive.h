#pragma once
// A small zip reader and writer, enough for NumPy's .npz files: stored (method 0) and deflated
// (method 8) members, ZIP64 extra fields and the ZIP64 end-of-central-directory record, CRC-32
// checked on every full read. The central directory is authoritative (as in Python's zipfile):
// local headers are only used to find where a member's data starts.
//
// Errors are one line naming the archive and, where it applies, the member.
#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

namespace fluxion::core {

struct ZipEntry {
  std::string name;
  uint16_t method = 0;  // 0 stored, 8 deflated
  uint16_t flags = 0;
  uint32_t crc32 = 0;
  uint64_t compressed_size = 0;
  uint64_t uncompressed_size = 0;
  uint64_t local_header_offset = 0;
};

class ZipReader {
 public:
  // Opens the archive and reads its central directory.
  explicit ZipReader(const std::string& path);
  ~ZipReader();
  ZipReader(const ZipReader&) = delete;
  ZipReader& operator=(const ZipReader&) = delete;

  const std::string& path() const { return path_; }
  uint64_t file_size() const { return file_size_; }
  const std::vector<ZipEntry>& entries() const { return entries_; }
  // nullptr when the archive has no member of that name.
  const ZipEntry* find(const std::string& name) const;

  // The whole uncompressed member, CRC checked.
  std::string read_all(const ZipEntry& entry) const;

  // Reads n bytes at an absolute offset; throws (naming `what`) if the file ends first.
  void read_at(uint64_t offset, void* dest, size_t n, const std::string& what) const;
  // Absolute offset of the member's data (after its local header), validated against the file.
  uint64_t data_offset(const ZipEntry& entry) const;
  // Where member data may end: the start of the central directory.
  uint64_t data_limit() const { return central_directory_offset_; }

 private:
  void read_directory();

  std::string path_;
  int fd_ = -1;
  uint64_t file_size_ = 0;
  uint64_t central_directory_offset_ = 0;
  std::vector<ZipEntry> entries_;
};

// Sequential reader of one member's uncompressed bytes: read() may deliver straight into a
// tensor's storage; finish() checks that the member was read completely and its CRC-32.
class ZipEntryStream {
 public:
  ZipEntryStream(const ZipReader& archive, const ZipEntry& entry);
  ~ZipEntryStream();
  ZipEntryStream(const ZipEntryStream&) = delete;
  ZipEntryStream& operator=(const ZipEntryStream&) = delete;

  // Exactly n bytes into dest; throws if the member holds fewer.
  void read(void* dest, size_t n);
  uint64_t remaining() const;
  void finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// One member to write: its bytes are the concatenation of `pieces` (nothing is copied).
struct ZipPiece {
  const void* data;
  size_t size;
};
struct ZipMemberSpec {
  std::string name;
  std::vector<ZipPiece> pieces;
  bool deflate = false;
};

// Writes a complete archive to `out`, which must be seekable (local headers are patched with
// the CRC and compressed size once a member is written). force_zip64 writes ZIP64 fields and
// records even for small archives (for testing readers).
void write_zip(std::ostream& out, const std::vector<ZipMemberSpec>& members,
               bool force_zip64 = false, const std::string& path_for_errors = "zip archive");

}  // namespace fluxion::core
