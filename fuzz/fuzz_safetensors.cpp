// safetensors: the JSON header (dtypes, shapes, offsets, metadata) and the data it declares.
#include "core/safetensors.h"
#include "fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto path = fluxion::fuzz::scratch_path(".safetensors");
  fluxion::fuzz::write_input(path, data, size);
  return fluxion::fuzz::expect_clean([&] {
    fluxion::core::Metadata metadata;
    auto tensors = fluxion::core::load_safetensors(path, &metadata);
    for (auto& [name, tensor] : tensors) tensor.sum();  // touch every byte the header declared
  });
}
