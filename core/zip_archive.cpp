#include "core/zip_archive.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

#include "core/error.h"

namespace fluxion::core {

namespace {

constexpr uint32_t kLocalSignature = 0x04034b50;
constexpr uint32_t kCentralSignature = 0x02014b50;
constexpr uint32_t kEndSignature = 0x06054b50;
constexpr uint32_t kZip64EndSignature = 0x06064b50;
constexpr uint32_t kZip64LocatorSignature = 0x07064b50;
constexpr uint16_t kZip64ExtraId = 0x0001;
constexpr uint32_t kMax32 = 0xffffffffu;
constexpr uint16_t kMax16 = 0xffffu;
constexpr size_t kLocalHeaderBytes = 30;
constexpr size_t kCentralHeaderBytes = 46;
constexpr size_t kEndBytes = 22;
constexpr size_t kZip64EndBytes = 56;
constexpr size_t kZip64LocatorBytes = 20;
constexpr size_t kChunk = 1 << 20;

uint64_t le(const unsigned char* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
uint16_t le16(const unsigned char* p) { return static_cast<uint16_t>(le(p, 2)); }
uint32_t le32(const unsigned char* p) { return static_cast<uint32_t>(le(p, 4)); }
uint64_t le64(const unsigned char* p) { return le(p, 8); }

uint32_t crc32_of(uint32_t crc, const void* data, size_t n) {
  const auto* p = static_cast<const Bytef*>(data);
  while (n > 0) {  // zlib takes 32-bit lengths
    const auto step = static_cast<uInt>(std::min<size_t>(n, 1u << 30));
    crc = static_cast<uint32_t>(::crc32(crc, p, step));
    p += step;
    n -= step;
  }
  return crc;
}

std::string member_prefix(const std::string& path, const std::string& name) {
  return path + ": member '" + name + "'";
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Reading

ZipReader::ZipReader(const std::string& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  FLUXION_CHECK(fd_ >= 0, path, ": cannot open (", std::strerror(errno), ")");
  try {
    read_directory();
  } catch (...) {
    ::close(fd_);
    fd_ = -1;
    throw;
  }
}

void ZipReader::read_directory() {
  const std::string& path = path_;
  struct stat st {};
  FLUXION_CHECK(::fstat(fd_, &st) == 0 && S_ISREG(st.st_mode), path, ": not a regular file");
  file_size_ = static_cast<uint64_t>(st.st_size);
  FLUXION_CHECK(file_size_ >= kEndBytes, path, ": not a zip archive or truncated (", file_size_,
                " bytes)");

  // The end record sits in the last 22 + 65535 (comment) bytes; search backwards.
  const uint64_t tail_size = std::min<uint64_t>(file_size_, kEndBytes + kMax16);
  const uint64_t tail_start = file_size_ - tail_size;
  std::string tail(tail_size, '\0');
  read_at(tail_start, tail.data(), tail_size, "the end of the archive");
  const auto* t = reinterpret_cast<const unsigned char*>(tail.data());
  int64_t end_pos = -1;
  for (int64_t i = static_cast<int64_t>(tail_size - kEndBytes); i >= 0; --i) {
    if (le32(t + i) == kEndSignature &&
        static_cast<uint64_t>(i) + kEndBytes + le16(t + i + 20) <= tail_size) {
      end_pos = i;
      break;
    }
  }
  FLUXION_CHECK(end_pos >= 0, path,
                ": not a zip archive or truncated (no end-of-central-directory record)");
  const unsigned char* end = t + end_pos;
  const uint64_t end_offset = tail_start + static_cast<uint64_t>(end_pos);
  uint64_t count = le16(end + 10);
  uint64_t cd_size = le32(end + 12);
  uint64_t cd_offset = le32(end + 16);
  uint64_t records_start = end_offset;  // where the central directory must end
  FLUXION_CHECK((le16(end + 4) == 0 || le16(end + 4) == kMax16) && le16(end + 8) == le16(end + 10),
                path, ": multi-disk zip archives are not supported");

  if (end_offset >= kZip64LocatorBytes) {
    unsigned char locator[kZip64LocatorBytes];
    read_at(end_offset - kZip64LocatorBytes, locator, kZip64LocatorBytes, "the ZIP64 locator");
    if (le32(locator) == kZip64LocatorSignature) {
      const uint64_t z64_offset = le64(locator + 8);
      FLUXION_CHECK(z64_offset <= end_offset - kZip64LocatorBytes &&
                        end_offset - kZip64LocatorBytes - z64_offset >= kZip64EndBytes,
                    path, ": ZIP64 end record offset ", z64_offset, " is past the end");
      unsigned char z64[kZip64EndBytes];
      read_at(z64_offset, z64, kZip64EndBytes, "the ZIP64 end record");
      FLUXION_CHECK(le32(z64) == kZip64EndSignature, path,
                    ": bad ZIP64 end-of-central-directory signature");
      count = le64(z64 + 32);
      cd_size = le64(z64 + 40);
      cd_offset = le64(z64 + 48);
      records_start = z64_offset;
    }
  }
  FLUXION_CHECK(cd_offset <= records_start && cd_size <= records_start - cd_offset, path,
                ": central directory (offset ", cd_offset, ", ", cd_size,
                " bytes) runs past the end of the archive (truncated?)");
  FLUXION_CHECK(count <= cd_size / kCentralHeaderBytes, path, ": central directory claims ", count,
                " members in ", cd_size, " bytes");
  central_directory_offset_ = cd_offset;

  std::string cd(cd_size, '\0');
  read_at(cd_offset, cd.data(), cd_size, "the central directory");
  const auto* c = reinterpret_cast<const unsigned char*>(cd.data());
  uint64_t pos = 0;
  entries_.reserve(count);
  for (uint64_t i = 0; i < count; ++i) {
    FLUXION_CHECK(pos + kCentralHeaderBytes <= cd_size && le32(c + pos) == kCentralSignature,
                  path, ": corrupt central directory at entry ", i);
    const unsigned char* h = c + pos;
    const uint64_t name_len = le16(h + 28), extra_len = le16(h + 30), comment_len = le16(h + 32);
    FLUXION_CHECK(pos + kCentralHeaderBytes + name_len + extra_len + comment_len <= cd_size, path,
                  ": corrupt central directory at entry ", i);
    ZipEntry e;
    e.flags = le16(h + 8);
    e.method = le16(h + 10);
    e.crc32 = le32(h + 16);
    e.compressed_size = le32(h + 20);
    e.uncompressed_size = le32(h + 24);
    e.local_header_offset = le32(h + 42);
    e.name.assign(reinterpret_cast<const char*>(h + kCentralHeaderBytes), name_len);
    // ZIP64 extra: 8-byte values for exactly those fields saturated above, in this order.
    const unsigned char* extra = h + kCentralHeaderBytes + name_len;
    for (uint64_t x = 0; x + 4 <= extra_len;) {
      const uint16_t id = le16(extra + x), len = le16(extra + x + 2);
      FLUXION_CHECK(x + 4 + len <= extra_len, path, ": member '", e.name,
                    "' has a corrupt extra field");
      if (id == kZip64ExtraId) {
        const unsigned char* f = extra + x + 4;
        uint64_t used = 0;
        auto take = [&](uint64_t& field) {
          if (field != kMax32) return;
          FLUXION_CHECK(used + 8 <= len, path, ": member '", e.name, "' has a short ZIP64 field");
          field = le64(f + used);
          used += 8;
        };
        take(e.uncompressed_size);
        take(e.compressed_size);
        take(e.local_header_offset);
      }
      x += 4 + len;
    }
    FLUXION_CHECK(e.local_header_offset < cd_offset, member_prefix(path, e.name),
                  ": local header offset ", e.local_header_offset,
                  " is past the end of the member data (truncated archive?)");
    entries_.push_back(std::move(e));
    pos += kCentralHeaderBytes + name_len + extra_len + comment_len;
  }
}

ZipReader::~ZipReader() {
  if (fd_ >= 0) ::close(fd_);
}

const ZipEntry* ZipReader::find(const std::string& name) const {
  for (const auto& e : entries_)
    if (e.name == name) return &e;
  return nullptr;
}

void ZipReader::read_at(uint64_t offset, void* dest, size_t n, const std::string& what) const {
  auto* out = static_cast<char*>(dest);
  while (n > 0) {
    const ssize_t got = ::pread(fd_, out, std::min<size_t>(n, 1u << 30), static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    FLUXION_CHECK(got >= 0, path_, ": read error in ", what, " (", std::strerror(errno), ")");
    FLUXION_CHECK(got > 0, path_, ": unexpected end of file in ", what, " (truncated archive?)");
    out += got;
    offset += static_cast<uint64_t>(got);
    n -= static_cast<size_t>(got);
  }
}

uint64_t ZipReader::data_offset(const ZipEntry& e) const {
  const std::string where = member_prefix(path_, e.name);
  unsigned char h[kLocalHeaderBytes];
  FLUXION_CHECK(e.local_header_offset + kLocalHeaderBytes <= file_size_, where,
                ": local header at offset ", e.local_header_offset, " is past the end of the file");
  read_at(e.local_header_offset, h, kLocalHeaderBytes, "member '" + e.name + "'");
  FLUXION_CHECK(le32(h) == kLocalSignature, where, ": bad local header signature at offset ",
                e.local_header_offset);
  const uint64_t name_len = le16(h + 26), extra_len = le16(h + 28);
  FLUXION_CHECK(name_len == e.name.size(), where, ": local header names a different file");
  const uint64_t start = e.local_header_offset + kLocalHeaderBytes + name_len + extra_len;
  FLUXION_CHECK(start <= data_limit() && e.compressed_size <= data_limit() - start, where,
                ": data (offset ", start, ", ", e.compressed_size,
                " bytes) runs past the end of the member data (truncated archive?)");
  return start;
}

std::string ZipReader::read_all(const ZipEntry& entry) const {
  ZipEntryStream stream(*this, entry);
  FLUXION_CHECK(entry.uncompressed_size <= std::numeric_limits<size_t>::max(),
                member_prefix(path_, entry.name), ": too large");
  std::string out(entry.uncompressed_size, '\0');
  stream.read(out.data(), out.size());
  stream.finish();
  return out;
}

struct ZipEntryStream::Impl {
  const ZipReader& archive;
  const ZipEntry& entry;
  std::string where;
  uint64_t input_offset = 0;      // next compressed byte to read from the file
  uint64_t input_left = 0;        // compressed bytes not yet read from the file
  uint64_t produced = 0;          // uncompressed bytes delivered
  uint32_t crc = 0;
  bool inflating = false;
  bool stream_ended = false;
  z_stream z{};
  std::vector<unsigned char> buffer;

  Impl(const ZipReader& a, const ZipEntry& e)
      : archive(a), entry(e), where(member_prefix(a.path(), e.name)) {
    FLUXION_CHECK(!(e.flags & 1), where, ": encrypted members are not supported");
    FLUXION_CHECK(e.method == 0 || e.method == 8, where, ": unsupported compression method ",
                  e.method, " (only stored and deflate)");
    input_offset = archive.data_offset(e);
    input_left = e.compressed_size;
    if (e.method == 0) {
      FLUXION_CHECK(e.compressed_size == e.uncompressed_size, where, ": stored member has ",
                    e.compressed_size, " bytes but declares ", e.uncompressed_size);
      return;
    }
    // Deflate expands at most ~1032:1. A larger claim is a corrupt (or hostile) directory, and
    // must be refused before a caller allocates that much for the member.
    FLUXION_CHECK(e.uncompressed_size / 1100 <= e.compressed_size + 4, where, ": declares ",
                  e.uncompressed_size, " bytes, more than its ", e.compressed_size,
                  " deflated bytes can hold (corrupt directory)");
    FLUXION_CHECK(inflateInit2(&z, -MAX_WBITS) == Z_OK, where, ": cannot start zlib inflate");
    inflating = true;
    buffer.resize(kChunk);
  }
  ~Impl() {
    if (inflating) inflateEnd(&z);
  }

  void refill() {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(input_left, buffer.size()));
    archive.read_at(input_offset, buffer.data(), n, "member '" + entry.name + "'");
    input_offset += n;
    input_left -= n;
    z.next_in = buffer.data();
    z.avail_in = static_cast<uInt>(n);
  }

  // Inflates into dest[0, n); returns the bytes produced (< n only at the end of the stream).
  size_t inflate_into(unsigned char* dest, size_t n) {
    size_t done = 0;
    while (done < n && !stream_ended) {
      if (z.avail_in == 0 && input_left > 0) refill();
      const auto step = static_cast<uInt>(std::min<size_t>(n - done, 1u << 30));
      z.next_out = dest + done;
      z.avail_out = step;
      const int rc = ::inflate(&z, Z_NO_FLUSH);
      done += step - z.avail_out;
      if (rc == Z_STREAM_END) {
        stream_ended = true;
      } else if (rc == Z_BUF_ERROR && z.avail_in == 0 && input_left == 0) {
        fail(where, ": deflate stream is truncated");
      } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
        fail(where, ": corrupt deflate data (", z.msg ? z.msg : "zlib error ", z.msg ? "" : std::to_string(rc), ")");
      }
    }
    return done;
  }
};

ZipEntryStream::ZipEntryStream(const ZipReader& archive, const ZipEntry& entry)
    : impl_(std::make_unique<Impl>(archive, entry)) {}
ZipEntryStream::~ZipEntryStream() = default;

uint64_t ZipEntryStream::remaining() const {
  return impl_->entry.uncompressed_size - impl_->produced;
}

void ZipEntryStream::read(void* dest, size_t n) {
  auto& s = *impl_;
  FLUXION_CHECK(n <= remaining(), s.where, ": asked for ", n, " bytes but only ", remaining(),
                " remain of ", s.entry.uncompressed_size);
  auto* out = static_cast<unsigned char*>(dest);
  if (s.entry.method == 0) {
    s.archive.read_at(s.input_offset, out, n, "member '" + s.entry.name + "'");
    s.input_offset += n;
    s.input_left -= n;
  } else {
    const size_t got = s.inflate_into(out, n);
    FLUXION_CHECK(got == n, s.where, ": deflate stream ends after ", s.produced + got,
                  " bytes but the directory declares ", s.entry.uncompressed_size);
  }
  s.crc = crc32_of(s.crc, out, n);
  s.produced += n;
}

void ZipEntryStream::finish() {
  auto& s = *impl_;
  FLUXION_CHECK(s.produced == s.entry.uncompressed_size, s.where, ": only ", s.produced, " of ",
                s.entry.uncompressed_size, " bytes were read");
  if (s.entry.method == 8) {
    unsigned char extra;
    FLUXION_CHECK(s.inflate_into(&extra, 1) == 0, s.where,
                  ": deflate stream holds more data than the directory declares");
  }
  FLUXION_CHECK(s.crc == s.entry.crc32, s.where, ": CRC-32 mismatch (directory says ", std::hex,
                s.entry.crc32, ", data gives ", s.crc, "; corrupt archive)");
}

// ---------------------------------------------------------------------------------------------
// Writing

namespace {

class LittleEndianBuffer {
 public:
  void u16(uint64_t v) { put(v, 2); }
  void u32(uint64_t v) { put(v, 4); }
  void u64(uint64_t v) { put(v, 8); }
  void bytes(const std::string& s) { data_ += s; }
  const std::string& str() const { return data_; }

 private:
  void put(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) data_ += static_cast<char>((v >> (8 * i)) & 0xff);
  }
  std::string data_;
};

struct WrittenMember {
  std::string name;
  uint16_t method = 0;
  uint16_t flags = 0;
  uint32_t crc = 0;
  uint64_t compressed = 0, uncompressed = 0, offset = 0;
  bool zip64_local = false;
};

constexpr uint16_t kDosTime = 0;       // 00:00:00
constexpr uint16_t kDosDate = 0x21;    // 1980-01-01: fixed, so archives are reproducible

std::string local_header(const WrittenMember& m) {
  LittleEndianBuffer b;
  b.u32(kLocalSignature);
  b.u16(m.zip64_local ? 45 : 20);
  b.u16(m.flags);
  b.u16(m.method);
  b.u16(kDosTime);
  b.u16(kDosDate);
  b.u32(m.crc);
  b.u32(m.zip64_local ? kMax32 : m.compressed);
  b.u32(m.zip64_local ? kMax32 : m.uncompressed);
  b.u16(m.name.size());
  b.u16(m.zip64_local ? 20 : 0);
  b.bytes(m.name);
  if (m.zip64_local) {
    b.u16(kZip64ExtraId);
    b.u16(16);
    b.u64(m.uncompressed);
    b.u64(m.compressed);
  }
  return b.str();
}

std::string central_header(const WrittenMember& m, bool force_zip64) {
  const bool big_u = force_zip64 || m.uncompressed >= kMax32;
  const bool big_c = force_zip64 || m.compressed >= kMax32;
  const bool big_o = force_zip64 || m.offset >= kMax32;
  const uint16_t extra_len = (big_u || big_c || big_o) ? 4 + 8 * (big_u + big_c + big_o) : 0;
  LittleEndianBuffer b;
  b.u32(kCentralSignature);
  b.u16(extra_len ? 45 : 20);  // made by: MS-DOS attributes, spec version
  b.u16(extra_len ? 45 : 20);
  b.u16(m.flags);
  b.u16(m.method);
  b.u16(kDosTime);
  b.u16(kDosDate);
  b.u32(m.crc);
  b.u32(big_c ? kMax32 : m.compressed);
  b.u32(big_u ? kMax32 : m.uncompressed);
  b.u16(m.name.size());
  b.u16(extra_len);
  b.u16(0);  // comment
  b.u16(0);  // disk
  b.u16(0);  // internal attributes
  b.u32(0);  // external attributes
  b.u32(big_o ? kMax32 : m.offset);
  b.bytes(m.name);
  if (extra_len) {
    b.u16(kZip64ExtraId);
    b.u16(extra_len - 4);
    if (big_u) b.u64(m.uncompressed);
    if (big_c) b.u64(m.compressed);
    if (big_o) b.u64(m.offset);
  }
  return b.str();
}

uint64_t tell(std::ostream& out, const std::string& path) {
  const auto pos = out.tellp();
  FLUXION_CHECK(pos >= 0, path, ": zip output stream is not seekable");
  return static_cast<uint64_t>(pos);
}

void write_or_fail(std::ostream& out, const void* data, size_t n, const std::string& path) {
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(n));
  FLUXION_CHECK(out.good(), path, ": write failed (disk full?)");
}

// Deflates the pieces into `out` (raw deflate, zlib's default level as np.savez_compressed).
uint64_t write_deflated(std::ostream& out, const ZipMemberSpec& spec, const std::string& path) {
  z_stream z{};
  FLUXION_CHECK(deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -MAX_WBITS, 8,
                             Z_DEFAULT_STRATEGY) == Z_OK,
                path, ": cannot start zlib deflate");
  std::vector<unsigned char> buffer(kChunk);
  uint64_t written = 0;
  auto drain = [&](int flush) {
    int rc;
    do {
      z.next_out = buffer.data();
      z.avail_out = static_cast<uInt>(buffer.size());
      rc = ::deflate(&z, flush);
      const size_t n = buffer.size() - z.avail_out;
      write_or_fail(out, buffer.data(), n, path);
      written += n;
    } while (z.avail_out == 0 || (flush == Z_FINISH && rc != Z_STREAM_END));
  };
  try {
    for (const auto& piece : spec.pieces) {
      const auto* p = static_cast<const Bytef*>(piece.data);
      size_t left = piece.size;
      while (left > 0) {
        const auto step = static_cast<uInt>(std::min<size_t>(left, 1u << 30));
        z.next_in = const_cast<Bytef*>(p);
        z.avail_in = step;
        drain(Z_NO_FLUSH);
        p += step;
        left -= step;
      }
    }
    drain(Z_FINISH);
  } catch (...) {
    deflateEnd(&z);
    throw;
  }
  deflateEnd(&z);
  return written;
}

}  // namespace

void write_zip(std::ostream& out, const std::vector<ZipMemberSpec>& members, bool force_zip64,
               const std::string& path) {
  std::vector<WrittenMember> written;
  for (const auto& spec : members) {
    WrittenMember m;
    m.name = spec.name;
    FLUXION_CHECK(m.name.size() < kMax16, path, ": member name too long");
    if (std::any_of(m.name.begin(), m.name.end(), [](char c) { return c & 0x80; }))
      m.flags |= 0x800;  // UTF-8 name
    m.method = spec.deflate ? 8 : 0;
    for (const auto& piece : spec.pieces) m.uncompressed += piece.size;
    // A deflated member may grow slightly; decide the local header's layout before writing.
    const uint64_t worst = m.uncompressed + (m.uncompressed >> 10) + 1024;
    m.zip64_local = force_zip64 || (spec.deflate ? worst : m.uncompressed) >= kMax32;
    m.offset = tell(out, path);
    std::string header = local_header(m);
    write_or_fail(out, header.data(), header.size(), path);
    for (const auto& piece : spec.pieces) m.crc = crc32_of(m.crc, piece.data, piece.size);
    if (spec.deflate) {
      m.compressed = write_deflated(out, spec, path);
    } else {
      for (const auto& piece : spec.pieces) write_or_fail(out, piece.data, piece.size, path);
      m.compressed = m.uncompressed;
    }
    FLUXION_CHECK(m.zip64_local || m.compressed < kMax32, path, ": member '", m.name,
                  "' outgrew its local header");
    const uint64_t end = tell(out, path);
    out.seekp(static_cast<std::streamoff>(m.offset));
    header = local_header(m);
    write_or_fail(out, header.data(), header.size(), path);
    out.seekp(static_cast<std::streamoff>(end));
    written.push_back(std::move(m));
  }
  const uint64_t cd_offset = tell(out, path);
  for (const auto& m : written) {
    const std::string header = central_header(m, force_zip64);
    write_or_fail(out, header.data(), header.size(), path);
  }
  const uint64_t cd_end = tell(out, path);
  const uint64_t cd_size = cd_end - cd_offset;
  const uint64_t count = written.size();
  const bool zip64_end = force_zip64 || count >= kMax16 || cd_size >= kMax32 || cd_offset >= kMax32;
  LittleEndianBuffer b;
  if (zip64_end) {
    b.u32(kZip64EndSignature);
    b.u64(kZip64EndBytes - 12);
    b.u16(45);
    b.u16(45);
    b.u32(0);
    b.u32(0);
    b.u64(count);
    b.u64(count);
    b.u64(cd_size);
    b.u64(cd_offset);
    b.u32(kZip64LocatorSignature);
    b.u32(0);
    b.u64(cd_end);
    b.u32(1);
  }
  b.u32(kEndSignature);
  b.u16(0);
  b.u16(0);
  b.u16(zip64_end ? kMax16 : count);
  b.u16(zip64_end ? kMax16 : count);
  b.u32(zip64_end ? kMax32 : cd_size);
  b.u32(zip64_end ? kMax32 : cd_offset);
  b.u16(0);
  write_or_fail(out, b.str().data(), b.str().size(), path);
}

}  // namespace fluxion::core
