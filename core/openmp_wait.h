#pragma once
// OpenMP's wait policy for LibTorch's CPU thread pool. libgomp's workers spin between parallel
// regions by default; when anything else wants the cores (another process, OpenBLAS's own
// threads, a decoding thread) the spinning workers starve it. On the 2-core CI machine under
// load, 150 training steps of SiT-T/4 took 84-96 s spinning and 26-36 s passive, and a tiny
// `fluxion finetune` 106 s against 14 s. libgomp reads OMP_WAIT_POLICY once, when it is loaded,
// so the process has to start again with it set.
namespace fluxion::core {

// Unless OMP_WAIT_POLICY is set already (the user's choice wins), sets it to PASSIVE and
// re-executes this program with the same arguments (/proc/self/exe); returns if that fails or
// is not needed. Call first thing in main().
void restart_with_passive_openmp(char** argv);

}  // namespace fluxion::core
