#pragma once
// Whether this build has fluxion's own CUDA kernels (FLUXION_CUDA_KERNELS: models/cuda/, used by
// norm_modulate, fused_gated_residual and fused_rope on CUDA tensors).
namespace fluxion::models {

bool fused_kernels_built();

}  // namespace fluxion::models
