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

}  // namespace fluxion::core
