#pragma once
// NumPy .npz archives: a zip of .npy members, stored (np.savez) or deflated
// (np.savez_compressed), ZIP64 included. Reading validates the zip directory; a member that is
// not .npy, a CRC mismatch, a truncated member or an unsupported compression is an error naming
// the archive and the member.
#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

namespace fluxion::core {

using ArrayMap = std::map<std::string, torch::Tensor>;  // key without the ".npy" suffix

struct NpzMemberInfo {
  std::string name;   // without ".npy"
  std::string descr;  // "<f8", "|u1", ...
  std::vector<int64_t> shape;
  bool compressed = false;
};

// Every array of the archive.
ArrayMap load_npz(const std::string& path);
// Only the named arrays (others are not decompressed); a missing name is an error.
ArrayMap load_npz(const std::string& path, const std::vector<std::string>& names);
// Member names, dtypes and shapes, reading only the .npy headers.
std::vector<NpzMemberInfo> list_npz(const std::string& path);

// Writes arrays atomically; compress = true deflates as np.savez_compressed does.
void save_npz(const std::string& path, const ArrayMap& arrays, bool compress = false);

}  // namespace fluxion::core
