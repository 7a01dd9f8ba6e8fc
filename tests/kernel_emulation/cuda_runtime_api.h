#pragma once
// Stand-in for the CUDA toolkit's header in the CPU emulation of fluxion's kernels.
#include "emulated_cuda.h"
