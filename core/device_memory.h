#pragma once
// Peak memory of the process on a device, for the training log and the run report.
//   CUDA: the peak of bytes held by tensors (the caching allocator's allocated_bytes, what
//         torch.cuda.max_memory_allocated reports), since the last reset_peak_memory.
//   CPU:  the process's peak resident set size (getrusage), which cannot be reset.
// CUDA figures need a LibTorch built with CUDA (FLUXION_HAVE_CUDA, found by CMake); otherwise
// CUDA devices report 0.
#include <torch/torch.h>

namespace fluxion::core {

double peak_memory_mib(const torch::Device& device);
void reset_peak_memory(const torch::Device& device);

}  // namespace fluxion::core
