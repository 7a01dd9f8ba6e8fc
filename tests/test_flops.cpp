// models/flops.h: the forward-pass FLOP count against the layer-by-layer formulas of SiT and JiT.
#include <catch2/catch.hpp>

#include "models/flops.h"
#include "models/zoo.h"

using namespace fluxion;

TEST_CASE("forward FLOPs of SiT-S/2 are its matmuls and attention products, counted by hand", "[unit][models]") {
  auto sit = models::build_model(models::zoo_config("SiT-S/2"));  // 32 x 32 x 4 latents, learn_sigma
  const double D = 384, T = 256, L = 12, C = 4, p = 2, out = 2 * C;
  const double embed = 2 * (C * p * p * D) * T;   // patchify convolution
  const double timestep = 2 * (256 * D + D * D);  // t_embedder MLP, once per image
  const double block = 2 * 12 * D * D * T         // qkv, proj, fc1, fc2 on every token
                       + 2 * 6 * D * D            // adaLN, once per image
                       + 4 * T * T * D;           // q k^T and the weighted sum of v
  const double final_layer = 2 * 2 * D * D + 2 * D * (p * p * out) * T;
  CHECK(models::forward_flops_per_image(*sit) == Approx(embed + timestep + L * block + final_layer).epsilon(1e-12));

  // LINA linear attention: k^T v and q (k^T v) per head, and its 5x5 depthwise convolution
  models::ModelOverrides linear;
  linear.attention = "linear";
  auto lina = models::build_model(models::zoo_config("SiT-S/2", linear));
  const double head_dim = 64;
  const double lina_block = block - 4 * T * T * D + 4 * T * D * head_dim + 2 * (D * 25) * T;
  CHECK(models::forward_flops_per_image(*lina) ==
        Approx(embed + timestep + L * lina_block + final_layer).epsilon(1e-12));
}

TEST_CASE("forward FLOPs of JiT count its in-context tokens from their first block on", "[unit][models]") {
  models::ModelOverrides small;
  small.image_size = 64;  // 4 x 4 = 16 patches of 16 px
  auto jit = models::build_model(models::zoo_config("JiT-B/16", small));
  const double D = 768, T = 16, ctx = 32, C = 3, p = 16, bottleneck = 128, h = 2048;  // int(4 * 768 * 2 / 3)
  const double embed = 2 * (C * p * p * bottleneck) * T + 2 * (bottleneck * D) * T;
  const double timestep = 2 * (256 * D + D * D);
  auto block = [&](double n) {
    return 2 * (4 * D * D + 3 * h * D) * n  // qkv, proj; SwiGLU w12 (D -> 2h) and w3 (h -> D)
           + 2 * 6 * D * D + 4 * n * n * D;
  };
  const double final_layer = 2 * 2 * D * D + 2 * D * (p * p * C) * T;
  const double expected = embed + timestep + 4 * block(T) + 8 * block(T + ctx) + final_layer;
  CHECK(models::forward_flops_per_image(*jit) == Approx(expected).epsilon(1e-12));
}
