#pragma once
// Seeded randomness. Every random draw in fluxion comes from a generator owned by the caller;
// nothing reads the global torch RNG. Same seed, same device -> same numbers.
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

namespace fluxion::core {

// A CPU or CUDA torch generator seeded with `seed`.
at::Generator make_generator(uint64_t seed, const torch::Device& device = torch::kCPU);

// Standard normal / uniform [0, 1) draws from `gen` on `gen`'s device, as float unless stated.
torch::Tensor randn(at::IntArrayRef shape, at::Generator& gen, torch::ScalarType dtype = torch::kFloat);
torch::Tensor rand(at::IntArrayRef shape, at::Generator& gen, torch::ScalarType dtype = torch::kFloat);
torch::Tensor randint(int64_t high, at::IntArrayRef shape, at::Generator& gen);

// A seeded permutation of 0..n-1 (CPU, int64).
torch::Tensor randperm(int64_t n, at::Generator& gen);

// Generator state as bytes and back, for checkpoints (exact resume).
torch::Tensor generator_state(const at::Generator& gen);
void set_generator_state(at::Generator& gen, const torch::Tensor& state);

// Derives independent seeds from one (SplitMix64): stream 0, 1, 2 ... of `seed`.
uint64_t derive_seed(uint64_t seed, uint64_t stream);

}  // namespace fluxion::core
