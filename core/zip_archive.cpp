#include "core/zip_archive.h"

#include <zip.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>

#include "core/error.h"

namespace fluxion::core {

namespace {

// zip_error_t with its cleanup; text() is libzip's wording ("CRC error", "Read error: ...").
struct LibzipError {
  zip_error_t error;
  LibzipError() { zip_error_init(&error); }
  ~LibzipError() { zip_error_fini(&error); }
  int code() { return zip_error_code_zip(&error); }
  std::string text() { return zip_error_strerror(&error); }
};

// The archive-level part of a message for a libzip error met while opening.
std::string open_problem(LibzipError& e) {
  switch (e.code()) {
    case ZIP_ER_NOENT: return "cannot open (" + std::string(std::strerror(ENOENT)) + ")";
    case ZIP_ER_OPEN: return "cannot open (" + e.text() + ")";
    case ZIP_ER_NOZIP: return "not a zip archive or truncated (no valid end-of-central-directory record)";
    case ZIP_ER_INCONS:
      return "corrupt zip archive: the central directory does not agree with its end record "
             "(truncated?)";
    case ZIP_ER_MULTIDISK: return "multi-disk zip archives are not supported";
    default: return "cannot read the zip directory (" + e.text() + ")";
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Reading

ZipReader::ZipReader(const std::string& path) : path_(path) {
  std::error_code ec;
  FLUXION_CHECK(!std::filesystem::exists(path, ec) || std::filesystem::is_regular_file(path, ec), path,
                ": not a regular file");
  LibzipError e;
  if (zip_source_t* source = zip_source_file_create(path.c_str(), 0, -1, &e.error)) {
    archive_ = zip_open_from_source(source, ZIP_RDONLY, &e.error);
    if (!archive_) zip_source_free(source);
  }
  FLUXION_CHECK(archive_, path, ": ", open_problem(e));
  // libzip reads an empty file as an empty archive; NumPy's empty .npz still has an end record.
  FLUXION_CHECK(zip_get_num_entries(archive_, 0) > 0 || std::filesystem::file_size(path, ec) > 0, path,
                ": not a zip archive or truncated (0 bytes)");

  const zip_int64_t count = zip_get_num_entries(archive_, 0);
  entries_.reserve(static_cast<size_t>(count));
  for (zip_int64_t i = 0; i < count; ++i) {
    zip_stat_t st;
    const auto needed = ZIP_STAT_NAME | ZIP_STAT_SIZE | ZIP_STAT_COMP_SIZE | ZIP_STAT_COMP_METHOD | ZIP_STAT_CRC |
                        ZIP_STAT_ENCRYPTION_METHOD;
    FLUXION_CHECK(zip_stat_index(archive_, static_cast<zip_uint64_t>(i), 0, &st) == 0 && (st.valid & needed) == needed,
                  path, ": corrupt central directory at entry ", i);
    ZipEntry entry;
    entry.index = static_cast<uint64_t>(i);
    entry.name = st.name;
    entry.method = st.comp_method;
    entry.encrypted = st.encryption_method != ZIP_EM_NONE;
    entry.crc32 = st.crc;
    entry.compressed_size = st.comp_size;
    entry.uncompressed_size = st.size;
    entries_.push_back(std::move(entry));
  }
}

ZipReader::~ZipReader() {
  if (archive_) zip_discard(archive_);
}

const ZipEntry* ZipReader::find(const std::string& name) const {
  for (const auto& e : entries_)
    if (e.name == name) return &e;
  return nullptr;
}

std::string ZipReader::read_all(const ZipEntry& entry) const {
  ZipEntryStream stream(*this, entry);
  FLUXION_CHECK(entry.uncompressed_size <= std::numeric_limits<size_t>::max(), path_, ": member '", entry.name,
                "': too large");
  std::string out(entry.uncompressed_size, '\0');
  stream.read(out.data(), out.size());
  stream.finish();
  return out;
}

ZipEntryStream::ZipEntryStream(const ZipReader& archive, const ZipEntry& e)
    : entry_(e), where_(archive.path() + ": member '" + e.name + "'") {
  FLUXION_CHECK(!e.encrypted, where_, ": encrypted members are not supported");
  FLUXION_CHECK(e.method == ZIP_CM_STORE || e.method == ZIP_CM_DEFLATE, where_, ": unsupported compression method ",
                e.method, " (only stored and deflate)");
  if (e.method == ZIP_CM_STORE) {
    FLUXION_CHECK(e.compressed_size == e.uncompressed_size, where_, ": stored member has ", e.compressed_size,
                  " bytes but declares ", e.uncompressed_size);
  } else {
    // Deflate expands at most ~1032:1. A larger claim is a corrupt (or hostile) directory, and
    // must be refused before a caller allocates that much for the member.
    FLUXION_CHECK(e.uncompressed_size / 1100 <= e.compressed_size + 4, where_, ": declares ", e.uncompressed_size,
                  " bytes, more than its ", e.compressed_size, " deflated bytes can hold (corrupt directory)");
  }
  file_ = zip_fopen_index(archive.archive_, e.index, 0);
  if (!file_) {
    zip_error_t* error = zip_get_error(archive.archive_);
    const int code = zip_error_code_zip(error);
    const std::string text = zip_error_strerror(error);
    zip_error_clear(archive.archive_);
    if (code == ZIP_ER_INVAL || code == ZIP_ER_SEEK || code == ZIP_ER_EOF || code == ZIP_ER_READ)
      fail(where_, ": local header lies past the end of the file or cannot be read (", text, "; truncated archive?)");
    if (code == ZIP_ER_NOZIP) fail(where_, ": bad local header (corrupt archive)");
    fail(where_, ": cannot open (", text, ")");
  }
}

ZipEntryStream::~ZipEntryStream() {
  if (file_) zip_fclose(file_);
}

void ZipEntryStream::fail_with_libzip_error(const char* doing) const {
  zip_error_t* error = zip_file_get_error(file_);
  const std::string text = zip_error_strerror(error);
  switch (zip_error_code_zip(error)) {
    case ZIP_ER_EOF: fail(where_, ": data runs past the end of the file (truncated archive?)");
    case ZIP_ER_CRC: fail(where_, ": CRC-32 mismatch (directory says ", std::hex, entry_.crc32, "; corrupt archive)");
    case ZIP_ER_COMPRESSED_DATA:
    case ZIP_ER_ZLIB: fail(where_, ": corrupt deflate data (", text, ")");
    case ZIP_ER_INCONS: fail(where_, ": size does not match the directory (corrupt archive)");
    default: fail(where_, ": ", doing, " failed (", text, ")");
  }
}

void ZipEntryStream::read(void* dest, size_t n) {
  FLUXION_CHECK(n <= remaining(), where_, ": asked for ", n, " bytes but only ", remaining(), " remain of ",
                entry_.uncompressed_size);
  auto* out = static_cast<char*>(dest);
  size_t done = 0;
  while (done < n) {  // libzip returns a short count before reporting an error on the next call
    // At most 1 GiB a call: libzip 1.7's inflate miscounts reads of 4 GiB or more.
    const zip_int64_t got = zip_fread(file_, out + done, std::min<size_t>(n - done, size_t(1) << 30));
    if (got < 0) fail_with_libzip_error("reading");
    FLUXION_CHECK(got > 0, where_, ": ", entry_.method == ZIP_CM_STORE ? "data" : "deflate stream", " ends after ",
                  produced_ + done, " bytes but the directory declares ", entry_.uncompressed_size);
    done += static_cast<size_t>(got);
  }
  produced_ += n;
}

void ZipEntryStream::finish() {
  FLUXION_CHECK(produced_ == entry_.uncompressed_size, where_, ": only ", produced_, " of ", entry_.uncompressed_size,
                " bytes were read");
  // Reading at the end is what makes libzip compare the CRC-32. Surplus data is read on to the
  // end of the member's compressed bytes, so that a truncated or corrupt member says so.
  char surplus[4096];
  zip_int64_t got, extra = 0;
  while ((got = zip_fread(file_, surplus, sizeof surplus)) > 0) extra += got;
  if (got < 0) fail_with_libzip_error("checking");
  FLUXION_CHECK(extra == 0, where_, ": ", entry_.method == ZIP_CM_STORE ? "data" : "deflate stream",
                " holds more data than the directory declares");
}

// ---------------------------------------------------------------------------------------------
// Writing

namespace {

// A libzip source that writes the new archive to a seekable std::ostream. zip_open_from_source
// insists on a readable source; the reading commands are never used for a new archive.
struct OstreamSink {
  explicit OstreamSink(std::ostream& stream) : out(stream) { zip_error_init(&error); }
  ~OstreamSink() { zip_error_fini(&error); }
  std::ostream& out;
  std::streamoff base = 0;  // where the archive starts in `out`
  uint64_t offset = 0, size = 0;
  zip_error_t error;
};

zip_int64_t ostream_sink(void* state, void* data, zip_uint64_t len, zip_source_cmd_t cmd) {
  auto& s = *static_cast<OstreamSink*>(state);
  switch (cmd) {
    case ZIP_SOURCE_SUPPORTS:
      return zip_source_make_command_bitmap(
          ZIP_SOURCE_OPEN, ZIP_SOURCE_READ, ZIP_SOURCE_CLOSE, ZIP_SOURCE_SEEK, ZIP_SOURCE_TELL, ZIP_SOURCE_STAT,
          ZIP_SOURCE_ERROR, ZIP_SOURCE_FREE, ZIP_SOURCE_BEGIN_WRITE, ZIP_SOURCE_WRITE, ZIP_SOURCE_SEEK_WRITE,
          ZIP_SOURCE_TELL_WRITE, ZIP_SOURCE_COMMIT_WRITE, ZIP_SOURCE_ROLLBACK_WRITE, ZIP_SOURCE_REMOVE, -1);
    case ZIP_SOURCE_STAT:  // "no archive there yet": libzip starts a new one
      zip_error_set(&s.error, ZIP_ER_READ, ENOENT);
      return -1;
    case ZIP_SOURCE_BEGIN_WRITE:
      s.base = s.out.tellp();
      if (s.base < 0) {
        zip_error_set(&s.error, ZIP_ER_SEEK, ESPIPE);
        return -1;
      }
      return 0;
    case ZIP_SOURCE_WRITE:
      s.out.write(static_cast<const char*>(data), static_cast<std::streamsize>(len));
      if (!s.out.good()) {
        zip_error_set(&s.error, ZIP_ER_WRITE, errno);
        return -1;
      }
      s.offset += len;
      s.size = std::max(s.size, s.offset);
      return static_cast<zip_int64_t>(len);
    case ZIP_SOURCE_SEEK_WRITE: {
      const zip_int64_t to = zip_source_seek_compute_offset(s.offset, s.size, data, len, &s.error);
      if (to < 0) return -1;
      s.out.seekp(s.base + static_cast<std::streamoff>(to));
      if (!s.out.good()) {
        zip_error_set(&s.error, ZIP_ER_SEEK, errno);
        return -1;
      }
      s.offset = static_cast<uint64_t>(to);
      return 0;
    }
    case ZIP_SOURCE_TELL_WRITE: return static_cast<zip_int64_t>(s.offset);
    case ZIP_SOURCE_COMMIT_WRITE:
      s.out.flush();
      if (!s.out.good()) {
        zip_error_set(&s.error, ZIP_ER_WRITE, errno);
        return -1;
      }
      return 0;
    case ZIP_SOURCE_ERROR: return zip_error_to_data(&s.error, data, len);
    case ZIP_SOURCE_OPEN:
    case ZIP_SOURCE_CLOSE:
    case ZIP_SOURCE_ROLLBACK_WRITE:  // the caller discards the stream (write_file_atomically)
    case ZIP_SOURCE_REMOVE:
    case ZIP_SOURCE_FREE: return 0;
    default: zip_error_set(&s.error, ZIP_ER_OPNOTSUPP, 0); return -1;
  }
}

struct Discard {
  void operator()(zip_t* archive) const { zip_discard(archive); }
};

constexpr zip_uint16_t kDosTime = 0;     // 00:00:00
constexpr zip_uint16_t kDosDate = 0x21;  // 1980-01-01
constexpr int kDeflateLevel = 6;         // zlib's default; libzip's own default is 9

}  // namespace

void write_zip(std::ostream& out, const std::vector<ZipMemberSpec>& members, const std::string& path) {
  if (members.empty()) {                           // libzip writes nothing for an archive without members
    const char end_record[22] = {'P', 'K', 5, 6};  // end of central directory, all counts 0
    out.write(end_record, sizeof end_record);
    FLUXION_CHECK(out.good(), path, ": write failed (disk full?)");
    return;
  }
  OstreamSink sink(out);
  LibzipError e;
  std::unique_ptr<zip_t, Discard> archive;
  if (zip_source_t* source = zip_source_function_create(ostream_sink, &sink, &e.error)) {
    archive.reset(zip_open_from_source(source, ZIP_CREATE | ZIP_TRUNCATE, &e.error));
    if (!archive) zip_source_free(source);
  }
  FLUXION_CHECK(archive, path, ": cannot start a zip archive (", e.text(), ")");
  auto check = [&](bool ok, const std::string& doing) {
    if (!ok) fail(path, ": ", doing, " (", zip_error_strerror(zip_get_error(archive.get())), ")");
  };

  for (const auto& spec : members) {
    std::vector<zip_buffer_fragment_t> fragments;
    for (const auto& piece : spec.pieces)  // libzip 1.7 mis-indexes empty fragments: leave them out
      if (piece.size > 0) fragments.push_back({static_cast<zip_uint8_t*>(const_cast<void*>(piece.data)), piece.size});
    zip_source_t* data = zip_source_buffer_fragment(archive.get(), fragments.data(), fragments.size(), 0);
    check(data != nullptr, "cannot add member '" + spec.name + "'");
    const zip_int64_t index = zip_file_add(archive.get(), spec.name.c_str(), data, ZIP_FL_ENC_UTF_8);
    if (index < 0) zip_source_free(data);
    check(index >= 0, "cannot add member '" + spec.name + "'");
    const auto i = static_cast<zip_uint64_t>(index);
    check(zip_set_file_compression(archive.get(), i, spec.deflate ? ZIP_CM_DEFLATE : ZIP_CM_STORE,
                                   spec.deflate ? kDeflateLevel : 0) == 0 &&
              zip_file_set_dostime(archive.get(), i, kDosTime, kDosDate, 0) == 0,
          "cannot set up member '" + spec.name + "'");
  }
  // zip_close writes everything; on failure the archive stays open for zip_discard.
  check(zip_close(archive.get()) == 0, "write failed");
  archive.release();
}

}  // namespace fluxion::core
