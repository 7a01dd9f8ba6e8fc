#pragma once
// safetensors files: an 8-byte little-endian header length, a JSON header
// {"name": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, "__metadata__": {...}},
// then the raw little-endian tensor bytes. Headers are validated before anything is allocated:
// offsets inside the data section, no overlaps, dtype x shape = byte length.
#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace fluxion::core {

using TensorMap = std::map<std::string, torch::Tensor>;
using Metadata = std::map<std::string, std::string>;

struct SafetensorsEntry {
  std::string name;
  std::string dtype;  // "F32", "BF16", ...
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // offsets relative to the start of the data section
  uint64_t end = 0;
};

struct SafetensorsHeader {
  std::vector<SafetensorsEntry> entries;  // in file order (by offset)
  Metadata metadata;
  uint64_t data_start = 0;  // absolute offset of the data section
  uint64_t file_size = 0;
};

// Reads and validates only the header. Throws fluxion::Error naming `path` on any defect.
SafetensorsHeader read_safetensors_header(const std::string& path);

// Loads every tensor (CPU, contiguous, the file's dtype). Each tensor's bytes are read straight
// into its storage: one copy from the file, no intermediate buffer of the whole file.
TensorMap load_safetensors(const std::string& path, Metadata* metadata = nullptr);

// Loads only the tensors whose names start with `prefix`, with the prefix removed.
TensorMap load_safetensors_prefixed(const std::string& path, const std::string& prefix, Metadata* metadata = nullptr);

// Writes tensors (any device, any layout; copied to CPU contiguous) and string metadata,
// atomically. Names are written in sorted order.
void save_safetensors(const std::string& path, const TensorMap& tensors, const Metadata& metadata = {});

// "F32" <-> torch::kFloat etc. Throws on names or dtypes safetensors does not define.
torch::ScalarType safetensors_dtype(const std::string& name);
std::string safetensors_dtype_name(torch::ScalarType dtype);
size_t safetensors_dtype_size(const std::string& name);

}  // namespace fluxion::core
