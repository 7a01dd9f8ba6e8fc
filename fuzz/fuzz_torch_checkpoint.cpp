// torch.save files (.pt/.pth, zip and legacy formats): the zip records, the data-only unpickler
// and the storages the pickle refers to, through the converter that `fluxion convert` runs.
#include "core/checkpoint_convert.h"
#include "fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fluxion;
  static const auto input = fuzz::scratch_path(".pt"), output = fuzz::scratch_path("-converted.safetensors");
  fuzz::write_input(input, data, size);
  core::ConvertOptions options;
  options.input = input;
  options.output = output;
  return fuzz::expect_clean([&] { core::convert_torch_checkpoint(options); });
}
