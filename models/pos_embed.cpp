#include "models/pos_embed.h"

#include "core/error.h"
#include "models/fused_rope.h"

namespace fluxion::models {

namespace {
// (M,) positions -> (M, D) = [sin(pos * omega), cos(pos * omega)], float64.
torch::Tensor sincos_1d(int64_t embed_dim, const torch::Tensor& positions) {
  auto dbl = torch::TensorOptions().dtype(torch::kDouble);
  auto omega = torch::arange(embed_dim / 2, dbl) / (embed_dim / 2.0);
  omega = 1.0 / torch::pow(10000.0, omega);
  // (M, 1) x (1, D/2) -> (M, D/2)
  auto out = positions.reshape({-1, 1}) * omega.unsqueeze(0);
  return torch::cat({torch::sin(out), torch::cos(out)}, 1);
}
}  // namespace

torch::Tensor sincos_2d_pos_embed(int64_t embed_dim, int64_t grid_h, int64_t grid_w) {
  FLUXION_CHECK(embed_dim % 4 == 0, "sin-cos position embedding: hidden size ", embed_dim, " is not a multiple of 4");
  auto dbl = torch::TensorOptions().dtype(torch::kDouble);
  // Row-major token grid: column index varies fastest.
  auto cols = torch::arange(grid_w, dbl).unsqueeze(0).expand({grid_h, grid_w}).reshape({-1});
  auto rows = torch::arange(grid_h, dbl).unsqueeze(1).expand({grid_h, grid_w}).reshape({-1});
  auto emb = torch::cat({sincos_1d(embed_dim / 2, cols), sincos_1d(embed_dim / 2, rows)}, 1);
  return emb.to(torch::kFloat).contiguous();
}

RopeTables axial_rope_tables(int64_t head_dim, int64_t grid_size, int64_t num_prefix_tokens, double theta) {
  FLUXION_CHECK(head_dim % 4 == 0, "rotary embedding: head dimension ", head_dim, " is not a multiple of 4");
  const int64_t dim = head_dim / 2;  // channels per axis
  auto flt = torch::TensorOptions().dtype(torch::kFloat);
  auto freqs = 1.0 / torch::pow(theta, torch::arange(0, dim, 2, flt) / static_cast<double>(dim));
  // Upstream computes positions as arange(n) / n * n in float32; keep its rounding.
  auto t = torch::arange(grid_size, flt) / static_cast<double>(grid_size) * static_cast<double>(grid_size);
  // (S,) x (dim/2,) -> (S, dim/2) -> (S, dim) with each frequency repeated for its pair
  auto per_axis = (t.unsqueeze(1) * freqs.unsqueeze(0)).repeat_interleave(2, 1);
  const int64_t S = grid_size;
  // (S, 1, dim) rows and (1, S, dim) cols -> (S, S, 2 dim) -> (S*S, head_dim)
  auto grid = torch::cat({per_axis.unsqueeze(1).expand({S, S, dim}), per_axis.unsqueeze(0).expand({S, S, dim})}, -1)
                  .reshape({S * S, head_dim});
  RopeTables tables{grid.cos(), grid.sin()};
  if (num_prefix_tokens > 0) {
    tables.cos = torch::cat({torch::ones({num_prefix_tokens, head_dim}, flt), tables.cos}, 0);
    tables.sin = torch::cat({torch::zeros({num_prefix_tokens, head_dim}, flt), tables.sin}, 0);
  }
  return tables;
}

torch::Tensor apply_rope(const torch::Tensor& x, const RopeTables& rope) {
  if (auto fused = fused_rope(x, rope)) return *fused;
  auto cos = rope.cos.to(x.device(), x.scalar_type());
  auto sin = rope.sin.to(x.device(), x.scalar_type());
  // (..., d) -> (..., d/2, 2) pairs -> (-b, a) -> (..., d)
  auto pair_shape = x.sizes().vec();
  pair_shape.back() /= 2;
  pair_shape.push_back(2);
  auto pairs = x.reshape(pair_shape);
  auto rotated = torch::stack({-pairs.select(-1, 1), pairs.select(-1, 0)}, -1).flatten(-2);
  return x * cos + rotated * sin;
}

}  // namespace fluxion::models
