#include "core/safetensors.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "core/atomic_file.h"
#include "core/error.h"

namespace fluxion::core {

namespace {

struct DtypeInfo {
  const char* name;
  torch::ScalarType type;
  size_t size;
};

const DtypeInfo kDtypes[] = {
    {"F64", torch::kFloat64, 8},   {"F32", torch::kFloat32, 4}, {"F16", torch::kFloat16, 2},
    {"BF16", torch::kBFloat16, 2}, {"I64", torch::kInt64, 8},   {"I32", torch::kInt32, 4},
    {"I16", torch::kInt16, 2},     {"I8", torch::kInt8, 1},     {"U8", torch::kUInt8, 1},
    {"BOOL", torch::kBool, 1},
};

// A header larger than this is treated as corrupt rather than allocated (upstream uses 100 MB).
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

uint64_t checked_numel(const std::vector<int64_t>& shape, const std::string& path, const std::string& name) {
  uint64_t n = 1;
  for (int64_t d : shape) {
    FLUXION_CHECK(d >= 0, path, ": tensor '", name, "' has a negative dimension");
    FLUXION_CHECK(d == 0 || n <= std::numeric_limits<uint64_t>::max() / static_cast<uint64_t>(d), path, ": tensor '",
                  name, "' shape overflows");
    n *= static_cast<uint64_t>(d);
  }
  return n;
}

}  // namespace

torch::ScalarType safetensors_dtype(const std::string& name) {
  for (const auto& d : kDtypes)
    if (name == d.name) return d.type;
  fail("unknown safetensors dtype '", name, "'");
}

size_t safetensors_dtype_size(const std::string& name) {
  for (const auto& d : kDtypes)
    if (name == d.name) return d.size;
  fail("unknown safetensors dtype '", name, "'");
}

std::string safetensors_dtype_name(torch::ScalarType dtype) {
  for (const auto& d : kDtypes)
    if (dtype == d.type) return d.name;
  fail("dtype ", c10::toString(dtype), " cannot be stored in safetensors");
}

SafetensorsHeader read_safetensors_header(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  FLUXION_CHECK(std::filesystem::is_regular_file(path) && in.good(), path, ": cannot open (missing or not a file)");
  SafetensorsHeader header;
  header.file_size = std::filesystem::file_size(path);
  FLUXION_CHECK(header.file_size >= 8, path, ": truncated safetensors file (", header.file_size,
                " bytes, no header length)");
  unsigned char len_bytes[8];
  in.read(reinterpret_cast<char*>(len_bytes), 8);
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | len_bytes[i];
  FLUXION_CHECK(header_len <= kMaxHeaderBytes, path, ": header length ", header_len,
                " is implausibly large (corrupt or not a safetensors file)");
  FLUXION_CHECK(header_len <= header.file_size - 8, path, ": header length ", header_len, " exceeds the file size ",
                header.file_size, " (truncated?)");
  std::string text(header_len, '\0');
  in.read(text.data(), static_cast<std::streamsize>(header_len));
  FLUXION_CHECK(in.good(), path, ": cannot read header");
  header.data_start = 8 + header_len;
  const uint64_t data_size = header.file_size - header.data_start;

  nlohmann::json json;
  try {
    json = nlohmann::json::parse(text);
  } catch (const std::exception& e) {
    fail(path, ": header is not valid JSON (", e.what(), ")");
  }
  FLUXION_CHECK(json.is_object(), path, ": header is not a JSON object");
  for (auto it = json.begin(); it != json.end(); ++it) {
    const std::string& key = it.key();
    if (key == "__metadata__") {
      FLUXION_CHECK(it->is_object(), path, ": __metadata__ is not an object");
      for (auto m = it->begin(); m != it->end(); ++m) {
        FLUXION_CHECK(m->is_string(), path, ": metadata value '", m.key(), "' is not a string");
        header.metadata[m.key()] = m->get<std::string>();
      }
      continue;
    }
    const auto& info = *it;
    FLUXION_CHECK(info.is_object() && info.contains("dtype") && info.contains("shape") && info.contains("data_offsets"),
                  path, ": entry '", key, "' lacks dtype, shape or data_offsets");
    SafetensorsEntry entry;
    entry.name = key;
    FLUXION_CHECK(info["dtype"].is_string(), path, ": entry '", key, "' has a non-string dtype");
    entry.dtype = info["dtype"].get<std::string>();
    bool known = false;
    for (const auto& d : kDtypes) known = known || entry.dtype == d.name;
    FLUXION_CHECK(known, path, ": tensor '", key, "' has unsupported dtype '", entry.dtype, "'");
    const auto& shape = info["shape"];
    FLUXION_CHECK(shape.is_array(), path, ": entry '", key, "' shape is not an array");
    for (const auto& d : shape) {
      FLUXION_CHECK(d.is_number_integer(), path, ": entry '", key, "' shape is not integers");
      entry.shape.push_back(d.get<int64_t>());
    }
    const auto& offsets = info["data_offsets"];
    FLUXION_CHECK(
        offsets.is_array() && offsets.size() == 2 && offsets[0].is_number_unsigned() && offsets[1].is_number_unsigned(),
        path, ": entry '", key, "' data_offsets must be two non-negative integers");
    entry.begin = offsets[0].get<uint64_t>();
    entry.end = offsets[1].get<uint64_t>();
    FLUXION_CHECK(entry.begin <= entry.end, path, ": tensor '", key, "' has begin > end offsets");
    FLUXION_CHECK(entry.end <= data_size, path, ": tensor '", key, "' ends at byte ", entry.end,
                  " past the data section of ", data_size, " bytes (truncated file?)");
    const uint64_t numel = checked_numel(entry.shape, path, key);
    const uint64_t elem = safetensors_dtype_size(entry.dtype);
    FLUXION_CHECK(numel <= std::numeric_limits<uint64_t>::max() / elem && numel * elem == entry.end - entry.begin, path,
                  ": tensor '", key, "' holds ", entry.end - entry.begin, " bytes but dtype x shape needs ",
                  numel * elem);
    header.entries.push_back(std::move(entry));
  }
  std::sort(header.entries.begin(), header.entries.end(), [](const SafetensorsEntry& a, const SafetensorsEntry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  for (size_t i = 1; i < header.entries.size(); ++i) {
    const auto& prev = header.entries[i - 1];
    const auto& cur = header.entries[i];
    FLUXION_CHECK(cur.begin >= prev.end || cur.begin == cur.end, path, ": tensors '", prev.name, "' and '", cur.name,
                  "' overlap");
  }
  return header;
}

namespace {
TensorMap load_entries(const std::string& path, const SafetensorsHeader& header, const std::string& prefix) {
  std::ifstream in(path, std::ios::binary);
  FLUXION_CHECK(in.good(), path, ": cannot open");
  TensorMap out;
  for (const auto& e : header.entries) {
    if (e.name.compare(0, prefix.size(), prefix) != 0) continue;
    auto tensor = torch::empty(e.shape, torch::TensorOptions().dtype(safetensors_dtype(e.dtype)));
    const uint64_t nbytes = e.end - e.begin;
    if (nbytes > 0) {
      in.seekg(static_cast<std::streamoff>(header.data_start + e.begin));
      in.read(static_cast<char*>(tensor.data_ptr()), static_cast<std::streamsize>(nbytes));
      FLUXION_CHECK(in.good(), path, ": short read of tensor '", e.name, "'");
    }
    out.emplace(e.name.substr(prefix.size()), std::move(tensor));
  }
  return out;
}
}  // namespace

TensorMap load_safetensors(const std::string& path, Metadata* metadata) {
  return load_safetensors_prefixed(path, "", metadata);
}

TensorMap load_safetensors_prefixed(const std::string& path, const std::string& prefix, Metadata* metadata) {
  const auto header = read_safetensors_header(path);
  if (metadata) *metadata = header.metadata;
  return load_entries(path, header, prefix);
}

void save_safetensors(const std::string& path, const TensorMap& tensors, const Metadata& metadata) {
  nlohmann::json json = nlohmann::json::object();
  if (!metadata.empty()) json["__metadata__"] = metadata;
  std::vector<torch::Tensor> contiguous;
  contiguous.reserve(tensors.size());
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    FLUXION_CHECK(name != "__metadata__", path, ": a tensor cannot be named __metadata__");
    auto t = tensor.detach().to(torch::kCPU).contiguous();
    const uint64_t nbytes = static_cast<uint64_t>(t.numel()) * t.element_size();
    json[name] = {{"dtype", safetensors_dtype_name(t.scalar_type())},
                  {"shape", t.sizes().vec()},
                  {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
    contiguous.push_back(std::move(t));
  }
  std::string text = json.dump();
  // Pad with spaces so the data section starts 8-byte aligned, as the Python writer does.
  text.append((8 - (text.size() % 8)) % 8, ' ');
  write_file_atomically(path, [&](std::ostream& out) {
    const uint64_t len = text.size();
    unsigned char len_bytes[8];
    for (int i = 0; i < 8; ++i) len_bytes[i] = static_cast<unsigned char>(len >> (8 * i));
    out.write(reinterpret_cast<const char*>(len_bytes), 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const auto& t : contiguous)
      out.write(static_cast<const char*>(t.data_ptr()), static_cast<std::streamsize>(t.numel() * t.element_size()));
  });
}

}  // namespace fluxion::core
