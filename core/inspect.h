#pragma once
// Human-readable listing of tensor files, shared by `fluxion inspect` and its tests.
#include <ostream>
#include <string>

namespace fluxion::core {

// Detects the format from the extension (.safetensors, .npz, .npy) and prints one line per
// tensor ("name  dtype  [shape]") followed by the metadata. Throws fluxion::Error on bad input.
void inspect_file(const std::string& path, std::ostream& out);

}  // namespace fluxion::core
