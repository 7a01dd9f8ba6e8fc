#include "core/npz.h"

#include <algorithm>
#include <set>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/npy.h"
#include "core/zip_archive.h"

namespace fluxion::core {

namespace {

const std::string kSuffix = ".npy";

std::string key_of(const ZipReader& zip, const ZipEntry& entry) {
  const std::string& name = entry.name;
  FLUXION_CHECK(
      name.size() > kSuffix.size() && name.compare(name.size() - kSuffix.size(), kSuffix.size(), kSuffix) == 0,
      zip.path(), ": member '", name, "' is not a .npy array");
  return name.substr(0, name.size() - kSuffix.size());
}

// Reads the member's .npy header from the stream and checks it against the member's size.
NpyHeader read_member_header(ZipEntryStream& stream, const ZipReader& zip, const ZipEntry& entry) {
  const std::string source = zip.path() + ":" + entry.name;
  std::string head(static_cast<size_t>(std::min<uint64_t>(entry.uncompressed_size, kNpyPreambleBytes)), '\0');
  stream.read(head.data(), head.size());
  const uint64_t header_size = npy_header_size(head.data(), head.size(), source);
  FLUXION_CHECK(header_size <= entry.uncompressed_size, source, ": .npy header length ", header_size,
                " runs past the end of the member (", entry.uncompressed_size, " bytes)");
  const size_t have = head.size();
  head.resize(header_size);
  stream.read(head.data() + have, header_size - have);
  NpyHeader header = parse_npy_header(head.data(), head.size(), source);
  const uint64_t payload = entry.uncompressed_size - header.data_offset;
  FLUXION_CHECK(payload == header.data_bytes, source, ": .npy payload is ", payload, " bytes but dtype ", header.descr,
                " x shape needs ", header.data_bytes);
  return header;
}

torch::Tensor load_member(const ZipReader& zip, const ZipEntry& entry) {
  ZipEntryStream stream(zip, entry);
  const NpyHeader header = read_member_header(stream, zip, entry);
  // The data is inflated (or read) straight into the tensor's storage.
  auto tensor = torch::empty(header.shape, torch::TensorOptions().dtype(header.dtype));
  stream.read(tensor.data_ptr(), header.data_bytes);
  stream.finish();
  return tensor;
}

}  // namespace

ArrayMap load_npz(const std::string& path) {
  ZipReader zip(path);
  ArrayMap arrays;
  for (const auto& entry : zip.entries()) {
    const std::string key = key_of(zip, entry);
    FLUXION_CHECK(!arrays.count(key), path, ": member '", entry.name, "' appears twice");
    arrays.emplace(key, load_member(zip, entry));
  }
  return arrays;
}

ArrayMap load_npz(const std::string& path, const std::vector<std::string>& names) {
  ZipReader zip(path);
  ArrayMap arrays;
  for (const auto& name : names) {
    const ZipEntry* entry = zip.find(name + kSuffix);
    FLUXION_CHECK(entry, path, ": has no array '", name, "'");
    arrays.emplace(name, load_member(zip, *entry));
  }
  return arrays;
}

std::vector<NpzMemberInfo> list_npz(const std::string& path) {
  ZipReader zip(path);
  std::vector<NpzMemberInfo> members;
  for (const auto& entry : zip.entries()) {
    NpzMemberInfo info;
    info.name = key_of(zip, entry);
    ZipEntryStream stream(zip, entry);
    const NpyHeader header = read_member_header(stream, zip, entry);
    info.descr = header.descr;
    info.shape = header.shape;
    info.compressed = entry.method != 0;
    members.push_back(std::move(info));
  }
  return members;
}

void save_npz(const std::string& path, const ArrayMap& arrays, bool compress) {
  std::vector<torch::Tensor> contiguous;
  std::vector<std::string> headers;
  contiguous.reserve(arrays.size());
  headers.reserve(arrays.size());
  std::vector<ZipMemberSpec> members;
  for (const auto& [name, tensor] : arrays) {
    FLUXION_CHECK(!name.empty(), path, ": an array needs a non-empty name");
    contiguous.push_back(tensor.detach().to(torch::kCPU).contiguous());
    const auto& t = contiguous.back();
    headers.push_back(npy_header_bytes(t.scalar_type(), t.sizes()));
    members.push_back({name + kSuffix,
                       {{headers.back().data(), headers.back().size()},
                        {t.data_ptr(), static_cast<size_t>(t.numel()) * t.element_size()}},
                       compress});
  }
  write_file_atomically(path, [&](std::ostream& out) { write_zip(out, members, path); });
}

}  // namespace fluxion::core
