// fluxion checkpoints: metadata, shapes and dtypes of the weights, EMA and optimizer entries.
#include "fuzz/fuzz_input.h"
#include "objectives/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fluxion;
  static const auto path = fuzz::scratch_path("-ckpt.safetensors");
  fuzz::write_input(path, data, size);
  fuzz::expect_clean([&] { objectives::load_checkpoint(path); });
  fuzz::expect_clean([&] { objectives::load_model_weights(path, "ema"); });
  return 0;
}
