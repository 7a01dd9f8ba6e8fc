#pragma once
// Device and precision policy: "auto" picks CUDA when present; precision "auto" is bf16 autocast
// on CUDA and fp32 on the CPU (DESIGN.md, Precision).
#include <torch/torch.h>

#include <string>

namespace fluxion::core {

// "auto" | "cpu" | "cuda" | "cuda:N". Throws fluxion::Error for unknown names or when CUDA is
// asked for but absent.
torch::Device resolve_device(const std::string& name);

// "auto" | "fp32" | "bf16" -> the autocast dtype (kFloat means no autocast).
torch::ScalarType resolve_precision(const std::string& name, const torch::Device& device);

std::string device_summary(const torch::Device& device);  // "cuda:0 (NVIDIA H200)", "cpu (2 threads)"

// CPU threading for the CLI: LibTorch's intra-op pool gets every core unless OMP_NUM_THREADS is
// set, and a pthreads OpenBLAS (Debian's LibTorch calls it for GEMMs) is kept to one thread
// unless OPENBLAS_NUM_THREADS is set. Two spinning thread pools on the same cores fight: on a
// 2-core machine SiT-T/4 trains at 58 images/s with both pools at 2 threads, 82 with one
// thread in all, and 105 this way (docs/benchmarks.md). Returns the intra-op thread count.
int configure_cpu_threads();

}  // namespace fluxion::core
