#pragma once
// The element types fluxion's CUDA kernels take, named without CUDA or LibTorch headers so that
// the launch functions' headers are plain C++.
namespace fluxion::models::cuda {

enum class Dtype { Float32, BFloat16 };

}  // namespace fluxion::models::cuda
