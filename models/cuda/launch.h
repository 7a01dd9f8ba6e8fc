#pragma once
// FLUXION_LAUNCH(grid, block, stream, kernel)(args...) is kernel<<<grid, block, 0, stream>>>(args...)
// in a form that also compiles as plain C++: tests/kernel_emulation builds the .cu files with g++
// and runs their kernels on the CPU (FLUXION_KERNEL_EMULATION), so CI tests them without a GPU.
// The kernel comes last because its template arguments may hold commas.
#if defined(FLUXION_KERNEL_EMULATION)
#define FLUXION_LAUNCH(grid, block, stream, ...) fluxion_emulated_launch(grid, block, __VA_ARGS__)
#else
#define FLUXION_LAUNCH(grid, block, stream, ...) __VA_ARGS__<<<grid, block, 0, stream>>>
#endif
