#include "core/rng.h"

#include "core/error.h"

#include <ATen/CPUGeneratorImpl.h>

#include <mutex>

namespace fluxion::core {

at::Generator make_generator(uint64_t seed, const torch::Device& device) {
  if (device.is_cpu()) return at::make_generator<at::CPUGeneratorImpl>(seed);
  FLUXION_CHECK(device.is_cuda(), "make_generator: unsupported device ", device.str());
  FLUXION_CHECK(torch::cuda::is_available(), "make_generator: CUDA device ", device.str(),
                " requested but CUDA is not available");
  // Cloning the device's default generator avoids naming CUDA-only headers, which the CPU-only
  // LibTorch lacks; the clone has its own state, so reseeding it leaves the global one alone.
  at::Generator gen = at::globalContext().defaultGenerator(device).clone();
  {
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_current_seed(seed);
  }
  return gen;
}

namespace {
torch::TensorOptions options_for(const at::Generator& gen, torch::ScalarType dtype) {
  return torch::TensorOptions().dtype(dtype).device(gen.device());
}
}  // namespace

torch::Tensor randn(at::IntArrayRef shape, at::Generator& gen, torch::ScalarType dtype) {
  return at::randn(shape, gen, options_for(gen, dtype));
}

torch::Tensor rand(at::IntArrayRef shape, at::Generator& gen, torch::ScalarType dtype) {
  return at::rand(shape, gen, options_for(gen, dtype));
}

torch::Tensor randint(int64_t high, at::IntArrayRef shape, at::Generator& gen) {
  FLUXION_CHECK(high > 0, "randint: upper bound must be positive, got ", high);
  return at::randint(high, shape, gen, options_for(gen, torch::kLong));
}

torch::Tensor randperm(int64_t n, at::Generator& gen) {
  FLUXION_CHECK(n >= 0, "randperm: length must be non-negative, got ", n);
  return at::randperm(n, gen, options_for(gen, torch::kLong)).cpu();
}

torch::Tensor generator_state(const at::Generator& gen) {
  at::Generator shared = gen;  // same state; Generator::mutex() is not const
  std::lock_guard<std::mutex> lock(shared.mutex());
  return shared.get_state().clone();
}

void set_generator_state(at::Generator& gen, const torch::Tensor& state) {
  FLUXION_CHECK(state.defined() && state.scalar_type() == torch::kByte && state.dim() == 1,
                "set_generator_state: expected a 1-D uint8 state tensor, got ",
                state.defined() ? state.sizes() : at::IntArrayRef{}, " ",
                state.defined() ? std::string(c10::toString(state.scalar_type())) : "undefined");
  std::lock_guard<std::mutex> lock(gen.mutex());
  try {
    gen.set_state(state.cpu().contiguous());
  } catch (const c10::Error& e) {
    fail("set_generator_state: state of ", state.numel(), " bytes does not fit a ", gen.device().str(),
         " generator: ", e.what_without_backtrace());
  }
}

uint64_t derive_seed(uint64_t seed, uint64_t stream) {
  // SplitMix64 evaluated at position stream + 1 of the sequence started at `seed`.
  uint64_t z = seed + (stream + 1) * 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

}  // namespace fluxion::core
