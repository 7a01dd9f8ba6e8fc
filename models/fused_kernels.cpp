#include "models/fused_kernels.h"

namespace fluxion::models {

bool fused_kernels_built() {
#if FLUXION_CUDA_KERNELS
  return true;
#else
  return false;
#endif
}

}  // namespace fluxion::models
