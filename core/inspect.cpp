#include "core/inspect.h"

#include <iomanip>

#include "core/error.h"
#include "core/npy.h"
#include "core/npz.h"
#include "core/safetensors.h"

namespace fluxion::core {

namespace {
bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

void inspect_safetensors(const std::string& path, std::ostream& out) {
  const auto header = read_safetensors_header(path);
  size_t width = 4;
  uint64_t total = 0;
  for (const auto& e : header.entries) width = std::max(width, e.name.size());
  out << path << ": safetensors, " << header.entries.size() << " tensors\n";
  for (const auto& e : header.entries) {
    out << "  " << std::left << std::setw(static_cast<int>(width)) << e.name << "  " << std::setw(5) << e.dtype << "  "
        << shape_text(e.shape) << "\n";
    total += e.end - e.begin;
  }
  out << "  data: " << total << " bytes\n";
  if (!header.metadata.empty()) {
    out << "metadata:\n";
    for (const auto& [key, value] : header.metadata) out << "  " << key << ": " << value << "\n";
  }
}

uint64_t byte_count(const std::string& descr, const std::vector<int64_t>& shape) {
  // descr is validated by the reader: a byte-order character, a kind letter, the item size.
  uint64_t n = std::stoull(descr.substr(2));
  for (int64_t d : shape) n *= static_cast<uint64_t>(d);
  return n;
}

void inspect_npz(const std::string& path, std::ostream& out) {
  const auto members = list_npz(path);
  size_t width = 4;
  uint64_t total = 0;
  for (const auto& m : members) width = std::max(width, m.name.size());
  out << path << ": npz, " << members.size() << " arrays\n";
  for (const auto& m : members) {
    out << "  " << std::left << std::setw(static_cast<int>(width)) << m.name << "  " << std::setw(5) << m.descr << "  "
        << std::setw(20) << shape_text(m.shape) << "  " << (m.compressed ? "deflated" : "stored") << "\n";
    total += byte_count(m.descr, m.shape);
  }
  out << "  data: " << total << " bytes uncompressed\n";
}

void inspect_npy(const std::string& path, std::ostream& out) {
  const auto header = read_npy_header(path);
  out << path << ": npy\n";
  out << "  " << header.descr << "  " << shape_text(header.shape) << "\n";
  out << "  data: " << header.data_bytes << " bytes\n";
}
}  // namespace

void inspect_file(const std::string& path, std::ostream& out) {
  if (ends_with(path, ".safetensors")) return inspect_safetensors(path, out);
  if (ends_with(path, ".npz")) return inspect_npz(path, out);
  if (ends_with(path, ".npy")) return inspect_npy(path, out);
  fail(path, ": unknown file type (expected .safetensors, .npz or .npy)");
}

}  // namespace fluxion::core
