#include "models/flops.h"

#include <map>
#include <string>

#include "core/error.h"
#include "models/attention.h"

namespace fluxion::models {

namespace {
// "blocks.7.mlp.fc1" -> "blocks.7."; "" outside the blocks
std::string block_prefix(const std::string& name) {
  if (name.rfind("blocks.", 0) != 0) return {};
  const auto dot = name.find('.', 7);
  return dot == std::string::npos ? name + "." : name.substr(0, dot + 1);
}

bool once_per_image(const std::string& name) {
  // the conditioning path: timestep MLP, label table, adaLN projections of (B, D) vectors
  return name.find("adaLN_modulation") != std::string::npos || name.rfind("t_embedder", 0) == 0 ||
         name.rfind("y_embedder", 0) == 0;
}
}  // namespace

double forward_flops_per_image(Backbone& model) {
  // Tokens per block from its attention module (JiT's later blocks carry in-context tokens too);
  // the grid's tokens for the patch embedding, the final layer and depthwise convolutions.
  std::map<std::string, int64_t> block_tokens;
  int64_t grid_tokens = 0;
  double flops = 0.0;
  for (const auto& item : model.named_modules("", /*include_self=*/false)) {
    if (const auto* attention = item.value()->as<AttentionImpl>()) {
      const int64_t n = attention->options.num_tokens;
      const int64_t dim = attention->num_heads * attention->head_dim;
      block_tokens[block_prefix(item.key())] = n;
      grid_tokens = attention->options.grid_h * attention->options.grid_w;
      // softmax: (N x d) (d x N) and (N x N) (N x d) per head; linear: (d x N) (N x d) and (N x d) (d x d)
      flops += attention->options.spec.kind == AttentionKind::Linear
                   ? 4.0 * static_cast<double>(n) * dim * attention->head_dim
                   : 4.0 * static_cast<double>(n) * n * dim;
    }
  }
  FLUXION_CHECK(grid_tokens > 0, "FLOP count: the ", model.family(), " model has no attention blocks");
  for (const auto& item : model.named_modules("", /*include_self=*/false)) {
    const auto& name = item.key();
    torch::Tensor weight;
    bool on_grid = false;  // convolutions run over the image grid only
    if (const auto* linear = item.value()->as<torch::nn::Linear>()) {
      weight = linear->weight;
    } else if (const auto* conv = item.value()->as<torch::nn::Conv2d>()) {
      weight = conv->weight;
      on_grid = true;
    } else {
      continue;
    }
    int64_t rows = 1;
    if (!once_per_image(name)) {
      const auto block = block_tokens.find(block_prefix(name));
      rows = on_grid || block == block_tokens.end() ? grid_tokens : block->second;
    }
    flops += 2.0 * static_cast<double>(weight.numel()) * static_cast<double>(rows);
  }
  return flops;
}

}  // namespace fluxion::models
