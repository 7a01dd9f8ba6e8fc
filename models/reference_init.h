#pragma once
// The reference initialisation SiT and JiT share (DiT's initialize_weights, which both official
// repositories copy): xavier-uniform linears, the sin-cos pos_embed table, patch embeddings like
// nn.Linear, N(0, 0.02) label and timestep embeddings, and zeroed adaLN and output layers, so that
// every block starts as the identity and the untrained model outputs zeros.
#include <torch/torch.h>

#include "models/layers.h"
#include "models/pos_embed.h"

namespace fluxion::models {

// `Model` is SiT or JiT, `Block` its block type. `in_context_posemb` (JiT's learned positions of
// the in-context class tokens, undefined for SiT) is drawn N(0, 0.02) right after pos_embed, in
// the reference's order of random draws, so that a seed keeps giving the same weights.
template <typename Block, typename Model>
void initialize_like_reference(Model& model, const torch::Tensor& in_context_posemb = {}) {
  const auto& c = model.config();
  init_linears_xavier(model);
  for (auto& block : *model.blocks) block->template as<Block>()->attn->reset_variant_parameters();
  const int64_t grid = c.input_size / c.patch_size;
  torch::NoGradGuard no_grad;
  model.pos_embed.copy_(sincos_2d_pos_embed(c.hidden_size, grid, grid).unsqueeze(0));
  if (in_context_posemb.defined()) in_context_posemb.normal_(0.0, 0.02);
  model.x_embedder->reset_parameters_like_reference();
  model.y_embedder->embedding_table->weight.normal_(0.0, 0.02);
  model.t_embedder->reset_parameters_like_reference();
  for (auto& block : *model.blocks) zero_adaln(block->template as<Block>()->adaLN_modulation);
  model.final_layer->zero_like_reference();
}

}  // namespace fluxion::models
