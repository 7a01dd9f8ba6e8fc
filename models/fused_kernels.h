#pragma once
// Whether fluxion's own CUDA kernels run: built with FLUXION_CUDA_KERNELS (models/cuda/, used by
// norm_modulate, fused_gated_residual and fused_rope on CUDA tensors) and not switched off. The
// environment variable FLUXION_FUSED_KERNELS=0 (or false, off) switches them off for the process,
// so that one binary measures both ways and a suspect kernel can be ruled out without a rebuild.
#include <optional>
#include <string>

namespace fluxion::models {

bool fused_kernels_built();

// Built and not switched off (by FLUXION_FUSED_KERNELS or set_fused_kernels_enabled). An
// unreadable FLUXION_FUSED_KERNELS value throws, naming it.
bool fused_kernels_enabled();

// Overrides the environment for this process; nullopt returns to it.
void set_fused_kernels_enabled(std::optional<bool> enabled);

// "on", "off (FLUXION_FUSED_KERNELS)", "off" or "not built", for version and bench lines.
std::string fused_kernels_status();

}  // namespace fluxion::models
