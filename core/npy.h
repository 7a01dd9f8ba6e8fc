#pragma once
// NumPy .npy arrays (format versions 1.0-3.0): little-endian <f4 <f8 |u1 <i8 <i4 |b1 (and <f2,
// |i1, <i2, <c8, <c16 where torch has the type), C order. Fortran-order, big-endian, object and
// structured arrays are rejected with a message. Headers are validated against the payload size
// before anything is allocated.
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

namespace fluxion::core {

// What the header of a .npy says, once validated.
struct NpyHeader {
  std::string descr;        // as written in the file ("<f4", "|u1", ...)
  torch::ScalarType dtype;  // the torch type holding it
  std::vector<int64_t> shape;
  uint64_t data_offset = 0;  // bytes before the array data (magic + length + dict)
  uint64_t data_bytes = 0;   // numel x itemsize
};

// The smallest prefix that always holds the magic, version and header length.
constexpr size_t kNpyPreambleBytes = 12;

// Number of header bytes (magic .. end of dict) announced by a preamble of at least
// kNpyPreambleBytes bytes (fewer only when the whole input is shorter). Throws naming `source`.
uint64_t npy_header_size(const char* preamble, size_t size, const std::string& source);

// Parses the header held in `bytes[0, size)`, which must contain at least npy_header_size()
// bytes. Does not look at the data.
NpyHeader parse_npy_header(const char* bytes, size_t size, const std::string& source);

// Parses a whole .npy image held in memory. `source` names it in error messages
// ("stats.npz:mu.npy").
torch::Tensor parse_npy(const std::string& bytes, const std::string& source);

// The header bytes (format 1.0, or 2.0 when the dict needs it) for an array of this dtype and
// shape; the raw C-order little-endian data follows it.
std::string npy_header_bytes(torch::ScalarType dtype, c10::IntArrayRef shape);

// Serialises a tensor (any device/layout) into .npy bytes (format 1.0, C order).
std::string serialize_npy(const torch::Tensor& tensor);

// Reads a .npy file straight into the tensor's storage (one copy, no intermediate buffer).
torch::Tensor load_npy(const std::string& path);
// Reads only the header of a .npy file.
NpyHeader read_npy_header(const std::string& path);
void save_npy(const std::string& path, const torch::Tensor& tensor);  // atomic

// "<f4" etc. for a torch dtype; throws for dtypes NumPy cannot hold (bfloat16).
std::string npy_descr(torch::ScalarType dtype);

}  // namespace fluxion::core
