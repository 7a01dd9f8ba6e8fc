#include "core/npy.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>

#include "core/atomic_file.h"
#include "core/error.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "fluxion's .npy reader assumes a little-endian host"
#endif

namespace fluxion::core {

namespace {

struct NpyType {
  const char* code;  // descr without the byte-order character
  torch::ScalarType dtype;
  size_t itemsize;
};

const NpyType kTypes[] = {
    {"f2", torch::kHalf, 2},
    {"f4", torch::kFloat, 4},
    {"f8", torch::kDouble, 8},
    {"u1", torch::kByte, 1},
    {"i1", torch::kChar, 1},
    {"i2", torch::kShort, 2},
    {"i4", torch::kInt, 4},
    {"i8", torch::kLong, 8},
    {"b1", torch::kBool, 1},
    {"c8", torch::kComplexFloat, 8},
    {"c16", torch::kComplexDouble, 16},
};

const char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicBytes = 6;
// numpy itself refuses headers above 10 kB unless told otherwise; anything near this is corrupt.
constexpr uint64_t kMaxHeaderBytes = 1u << 20;

// Header text for an error message: one line, printable, bounded.
std::string printable(const std::string& text) {
  std::string out;
  for (char c : text.substr(0, 200)) out += (c >= 32 && c < 127) ? c : ' ';
  return out.substr(0, out.find_last_not_of(' ') + 1);
}

// The header is a Python dict literal: {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
struct HeaderDict {
  std::optional<std::string> descr;
  bool descr_is_list = false;
  std::optional<bool> fortran_order;
  std::optional<std::vector<int64_t>> shape;
};

class DictParser {
 public:
  DictParser(const std::string& text, const std::string& source) : s_(text), source_(source) {}

  HeaderDict parse() {
    HeaderDict dict;
    expect('{');
    while (true) {
      skip_space();
      if (peek() == '}') break;
      const std::string key = parse_string();
      expect(':');
      skip_space();
      if (key == "descr") {
        if (peek() == '[') {
          dict.descr_is_list = true;
          skip_balanced();
        } else {
          dict.descr = parse_string();
        }
      } else if (key == "fortran_order") {
        dict.fortran_order = parse_bool();
      } else if (key == "shape") {
        dict.shape = parse_tuple();
      } else {
        fail(source_, ": .npy header has an unexpected key '", key, "'");
      }
      skip_space();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() == '}') break;
      error("expected ',' or '}'");
    }
    ++pos_;
    skip_space();
    if (pos_ != s_.size()) error("trailing characters after the dict");
    return dict;
  }

 private:
  [[noreturn]] void error(const std::string& what) const {
    fail(source_, ": malformed .npy header (", what, " at offset ", pos_, "): ", printable(s_));
  }
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  void skip_space() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) ++pos_;
  }
  void expect(char c) {
    skip_space();
    if (peek() != c) error(std::string("expected '") + c + "'");
    ++pos_;
  }
  std::string parse_string() {
    skip_space();
    const char quote = peek();
    if (quote != '\'' && quote != '"') error("expected a quoted string");
    const size_t end = s_.find(quote, pos_ + 1);
    if (end == std::string::npos) error("unterminated string");
    std::string value = s_.substr(pos_ + 1, end - pos_ - 1);
    pos_ = end + 1;
    return value;
  }
  bool parse_bool() {
    if (s_.compare(pos_, 4, "True") == 0) {
      pos_ += 4;
      return true;
    }
    if (s_.compare(pos_, 5, "False") == 0) {
      pos_ += 5;
      return false;
    }
    error("expected True or False");
  }
  std::vector<int64_t> parse_tuple() {
    expect('(');
    std::vector<int64_t> dims;
    while (true) {
      skip_space();
      if (peek() == ')') break;
      if (peek() < '0' || peek() > '9') error("expected a non-negative integer dimension");
      uint64_t value = 0;
      while (peek() >= '0' && peek() <= '9') {
        const uint64_t digit = static_cast<uint64_t>(peek() - '0');
        if (value > (static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) - digit) / 10)
          error("dimension too large");
        value = value * 10 + digit;
        ++pos_;
      }
      if (peek() == 'L') ++pos_;  // Python 2 long literals
      dims.push_back(static_cast<int64_t>(value));
      if (dims.size() > 64) error("more than 64 dimensions");
      skip_space();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() != ')') error("expected ',' or ')'");
    }
    ++pos_;
    return dims;
  }
  void skip_balanced() {
    int depth = 0;
    do {
      if (pos_ >= s_.size()) error("unterminated list");
      const char c = s_[pos_++];
      if (c == '[' || c == '(') ++depth;
      if (c == ']' || c == ')') --depth;
    } while (depth > 0);
  }

  const std::string& s_;
  const std::string& source_;
  size_t pos_ = 0;
};

const NpyType& type_for_descr(const std::string& descr, const std::string& source) {
  FLUXION_CHECK(!descr.empty(), source, ": .npy header has an empty descr");
  const char order = descr[0];
  const std::string code = std::string("<>|=").find(order) != std::string::npos ? descr.substr(1) : descr;
  FLUXION_CHECK(code != "O", source, ": object arrays (descr '", descr, "') are not supported (they need pickle)");
  for (const auto& t : kTypes) {
    if (code != t.code) continue;
    FLUXION_CHECK(t.itemsize == 1 || order != '>', source, ": big-endian array (descr '", descr,
                  "') is not supported; save it little-endian");
    FLUXION_CHECK(t.itemsize == 1 || order != '|', source, ": invalid descr '", descr,
                  "' (multi-byte type without byte order)");
    return t;
  }
  fail(source, ": unsupported .npy dtype descr '", descr,
       "' (supported: <f2 <f4 <f8 |u1 |i1 <i2 <i4 <i8 |b1 <c8 <c16)");
}

size_t itemsize_of(torch::ScalarType dtype) {
  for (const auto& t : kTypes)
    if (t.dtype == dtype) return t.itemsize;
  fail("dtype ", c10::toString(dtype), " cannot be stored in a .npy file");
}

void check_payload(const NpyHeader& header, uint64_t total_bytes, const std::string& source) {
  const uint64_t available = total_bytes - header.data_offset;
  FLUXION_CHECK(available == header.data_bytes, source, ": .npy payload is ", available, " bytes but dtype ",
                header.descr, " x shape needs ", header.data_bytes,
                available < header.data_bytes ? " (truncated?)" : " (trailing bytes)");
}

}  // namespace

std::string npy_descr(torch::ScalarType dtype) {
  for (const auto& t : kTypes)
    if (t.dtype == dtype) return std::string(t.itemsize == 1 ? "|" : "<") + t.code;
  fail("dtype ", c10::toString(dtype), " cannot be stored in a .npy file");
}

uint64_t npy_header_size(const char* preamble, size_t size, const std::string& source) {
  FLUXION_CHECK(size >= kMagicBytes && std::memcmp(preamble, kMagic, kMagicBytes) == 0, source,
                ": not a .npy file (bad magic)");
  FLUXION_CHECK(size >= 10, source, ": truncated .npy file (", size, " bytes)");
  const auto major = static_cast<unsigned char>(preamble[6]);
  const auto minor = static_cast<unsigned char>(preamble[7]);
  FLUXION_CHECK(major >= 1 && major <= 3 && minor == 0, source, ": unsupported .npy format version ", int(major), ".",
                int(minor));
  const auto* p = reinterpret_cast<const unsigned char*>(preamble);
  if (major == 1) return 10 + (uint64_t(p[8]) | uint64_t(p[9]) << 8);
  FLUXION_CHECK(size >= 12, source, ": truncated .npy file (", size, " bytes)");
  const uint64_t length = uint64_t(p[8]) | uint64_t(p[9]) << 8 | uint64_t(p[10]) << 16 | uint64_t(p[11]) << 24;
  FLUXION_CHECK(length <= kMaxHeaderBytes, source, ": .npy header length ", length,
                " is implausibly large (corrupt file?)");
  return 12 + length;
}

NpyHeader parse_npy_header(const char* bytes, size_t size, const std::string& source) {
  const uint64_t header_size = npy_header_size(bytes, size, source);
  FLUXION_CHECK(header_size <= size, source, ": .npy header length ", header_size, " runs past the end of the data (",
                size, " bytes; truncated?)");
  const size_t dict_start = static_cast<unsigned char>(bytes[6]) == 1 ? 10 : 12;
  const std::string text(bytes + dict_start, header_size - dict_start);
  const HeaderDict dict = DictParser(text, source).parse();
  FLUXION_CHECK(!dict.descr_is_list, source, ": structured arrays (a list descr) are not supported");
  FLUXION_CHECK(dict.descr && dict.fortran_order && dict.shape, source,
                ": .npy header lacks descr, fortran_order or shape: ", printable(text));
  FLUXION_CHECK(!*dict.fortran_order, source,
                ": Fortran-order arrays are not supported; save with np.ascontiguousarray");
  const NpyType& type = type_for_descr(*dict.descr, source);

  NpyHeader header;
  header.descr = *dict.descr;
  header.dtype = type.dtype;
  header.shape = *dict.shape;
  header.data_offset = header_size;
  uint64_t bytes_needed = type.itemsize;
  for (int64_t d : header.shape) {
    const auto dim = static_cast<uint64_t>(d);
    FLUXION_CHECK(dim == 0 || bytes_needed <= std::numeric_limits<uint64_t>::max() / dim, source,
                  ": .npy shape overflows 64 bits");
    bytes_needed *= dim;
  }
  header.data_bytes = bytes_needed;
  return header;
}

torch::Tensor parse_npy(const std::string& bytes, const std::string& source) {
  const NpyHeader header = parse_npy_header(bytes.data(), bytes.size(), source);
  check_payload(header, bytes.size(), source);
  auto tensor = torch::empty(header.shape, torch::TensorOptions().dtype(header.dtype));
  if (header.data_bytes > 0) std::memcpy(tensor.data_ptr(), bytes.data() + header.data_offset, header.data_bytes);
  return tensor;
}

std::string npy_header_bytes(torch::ScalarType dtype, c10::IntArrayRef shape) {
  std::string shape_text = "(";
  for (size_t i = 0; i < shape.size(); ++i) shape_text += (i ? ", " : "") + std::to_string(shape[i]);
  if (shape.size() == 1) shape_text += ",";
  shape_text += ")";
  std::string dict = "{'descr': '" + npy_descr(dtype) + "', 'fortran_order': False, 'shape': " + shape_text + ", }";
  // Pad with spaces and a final newline so the data starts 64-byte aligned, as numpy does.
  auto padding = [&](size_t preamble) { return (64 - (preamble + dict.size() + 1) % 64) % 64; };
  const bool v2 = dict.size() + padding(10) + 1 > 65535;  // the 1.0 length field is 16 bits
  const size_t preamble = v2 ? 12 : 10;
  dict.append(padding(preamble), ' ');
  dict += '\n';
  std::string out(kMagic, kMagicBytes);
  out += static_cast<char>(v2 ? 2 : 1);
  out += '\0';
  const uint64_t n = dict.size();
  for (size_t i = 0; i < preamble - 8; ++i) out += static_cast<char>((n >> (8 * i)) & 0xff);
  return out + dict;
}

std::string serialize_npy(const torch::Tensor& tensor) {
  const auto t = tensor.detach().to(torch::kCPU).contiguous();
  std::string out = npy_header_bytes(t.scalar_type(), t.sizes());
  const size_t nbytes = static_cast<size_t>(t.numel()) * itemsize_of(t.scalar_type());
  out.append(static_cast<const char*>(t.data_ptr()), nbytes);
  return out;
}

NpyHeader read_npy_header(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  FLUXION_CHECK(std::filesystem::is_regular_file(path) && in.good(), path, ": cannot open (missing or not a file)");
  const uint64_t file_size = std::filesystem::file_size(path);
  std::string head(std::min<uint64_t>(file_size, kNpyPreambleBytes), '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  const uint64_t header_size = npy_header_size(head.data(), head.size(), path);
  FLUXION_CHECK(header_size <= file_size, path, ": .npy header length ", header_size,
                " runs past the end of the file (", file_size, " bytes; truncated?)");
  head.resize(header_size);
  if (header_size > kNpyPreambleBytes) {
    in.read(head.data() + kNpyPreambleBytes, static_cast<std::streamsize>(header_size - kNpyPreambleBytes));
    FLUXION_CHECK(in.good(), path, ": cannot read the .npy header");
  }
  NpyHeader header = parse_npy_header(head.data(), head.size(), path);
  check_payload(header, file_size, path);
  return header;
}

torch::Tensor load_npy(const std::string& path) {
  const NpyHeader header = read_npy_header(path);
  auto tensor = torch::empty(header.shape, torch::TensorOptions().dtype(header.dtype));
  if (header.data_bytes > 0) {
    std::ifstream in(path, std::ios::binary);
    in.seekg(static_cast<std::streamoff>(header.data_offset));
    in.read(static_cast<char*>(tensor.data_ptr()), static_cast<std::streamsize>(header.data_bytes));
    FLUXION_CHECK(in.good(), path, ": short read of the .npy data");
  }
  return tensor;
}

void save_npy(const std::string& path, const torch::Tensor& tensor) {
  const auto t = tensor.detach().to(torch::kCPU).contiguous();
  const std::string header = npy_header_bytes(t.scalar_type(), t.sizes());
  const size_t nbytes = static_cast<size_t>(t.numel()) * itemsize_of(t.scalar_type());
  write_file_atomically(path, [&](std::ostream& out) {
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    out.write(static_cast<const char*>(t.data_ptr()), static_cast<std::streamsize>(nbytes));
  });
}

}  // namespace fluxion::core
