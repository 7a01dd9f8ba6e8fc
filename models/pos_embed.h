#pragma once
// Position codes: the fixed MAE/SiT 2-D sin-cos table and JiT's 2-D axial rotary embedding.
#include <torch/torch.h>

namespace fluxion::models {

// MAE-style 2-D sin-cos table for a grid_h x grid_w token grid (row-major tokens), computed in
// float64 as the numpy reference and rounded to float32. The first D/2 channels encode the
// column, the last D/2 the row, each as [sin, cos] with omega_k = 10000^(-k/(D/4)).
// -> (grid_h * grid_w, D), float32 on the CPU.
torch::Tensor sincos_2d_pos_embed(int64_t embed_dim, int64_t grid_h, int64_t grid_w);

// Rotation tables (N, head_dim) for tokens [prefix..., grid row-major]. Prefix tokens (JiT's
// in-context class tokens) get the identity rotation (cos 1, sin 0).
struct RopeTables {
  torch::Tensor cos;
  torch::Tensor sin;
  bool defined() const { return cos.defined(); }
};

// JiT / EVA VisionRotaryEmbeddingFast with dim = head_dim / 2 per axis, theta 10000, computed
// in float32 as upstream: channel pairs (2i, 2i+1) share a frequency; the first head_dim/2
// channels rotate with the row index, the rest with the column index.
RopeTables axial_rope_tables(int64_t head_dim, int64_t grid_size, int64_t num_prefix_tokens, double theta = 10000.0);

// x * cos + rotate_half(x) * sin, where rotate_half maps pairs (a, b) -> (-b, a).
// x (B, H, N, d); tables are moved to x's device and dtype. Built with FLUXION_CUDA_KERNELS, CUDA
// input takes the fused kernels instead (models/fused_rope.h), with float32 tables.
torch::Tensor apply_rope(const torch::Tensor& x, const RopeTables& rope);

}  // namespace fluxion::models
