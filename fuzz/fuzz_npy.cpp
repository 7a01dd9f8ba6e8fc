// .npy: the magic, version, header dict (descr, fortran_order, shape) and the data size.
#include "core/npy.h"
#include "fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  return fluxion::fuzz::expect_clean([&] { fluxion::core::parse_npy(bytes, "fuzz.npy").sum(); });
}
