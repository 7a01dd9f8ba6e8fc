#pragma once
// torch.save files (.pt / .pth) read without Python, in both of torch.save's formats:
//   zip     PyTorch >= 1.6: <name>/data.pkl plus one record <name>/data/<key> per storage
//           (core/zip_archive: stored members, CRC-32 checked on every read);
//   legacy  torch.save(..., _use_new_zipfile_serialization=False) and files from before 1.6:
//           pickles of the magic number, protocol 1001 and system info, the object, the storage
//           keys, then each storage as an int64 element count and its raw little-endian bytes.
// The object pickle is read by core/torch_pickle: data only, no code runs, globals other than
// torch's tensor rebuilders and OrderedDict become inert named objects. Tensors stay references
// until read() fetches the bytes of one (one storage is held at a time).
//
// Refused with one line naming the file: the tar format of PyTorch < 0.4, TorchScript archives
// (torch.jit.save), big-endian files, truncated or corrupt files.
#include <memory>
#include <string>

#include "core/torch_pickle.h"

namespace fluxion::core {

class TorchCheckpoint {
 public:
  explicit TorchCheckpoint(const std::string& path);
  ~TorchCheckpoint();
  TorchCheckpoint(const TorchCheckpoint&) = delete;
  TorchCheckpoint& operator=(const TorchCheckpoint&) = delete;

  const std::string& path() const;
  const char* format() const;  // "zip" or "legacy"
  const pickle::ValuePtr& root() const;

  // The tensor's values: CPU, contiguous, the storage's dtype. Throws for storage types that
  // have no torch dtype here (quantized, complex32).
  torch::Tensor read(const pickle::TensorRef& ref);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fluxion::core
