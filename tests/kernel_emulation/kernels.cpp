// fluxion's CUDA kernels compiled as C++ for the CPU emulation (emulated_cuda.h): one line per
// models/cuda/*.cu file.
#include "models/cuda/norm_modulate_kernels.cu"
