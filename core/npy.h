#pragma once
// NumPy .npy arrays (format versions 1.0-3.0): little-endian <f4 <f8 |u1 <i8 <i4 |b1 (and <f2,
// |i1, <i2, <u2... where torch has the type), C order. Fortran-order, big-endian, object and
// structured arrays are rejected with a message. Headers are validated against the payload size
// before anything is allocated.
#include <torch/torch.h>

#include <string>

namespace fluxion::core {

// Parses a whole .npy image held in memory. `source` names it in error messages
// ("stats.npz:mu.npy").
torch::Tensor parse_npy(const std::string& bytes, const std::string& source);

// Serialises a tensor (any device/layout) into .npy bytes (format 1.0, C order).
std::string serialize_npy(const torch::Tensor& tensor);

torch::Tensor load_npy(const std::string& path);
void save_npy(const std::string& path, const torch::Tensor& tensor);  // atomic

// "<f4" etc. for a torch dtype; throws for dtypes NumPy cannot hold (bfloat16).
std::string npy_descr(torch::ScalarType dtype);

}  // namespace fluxion::core
