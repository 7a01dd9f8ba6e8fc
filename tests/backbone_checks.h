#pragma once
// Checks that every backbone test (SiT, JiT) makes: weights that exercise every branch, and a
// gradient reaching every parameter.
#include <torch/torch.h>

#include <cstdint>

#include "models/backbone.h"

namespace fluxion::test {

// Replaces every trainable tensor with N(0, scale^2) values drawn after seeding the global
// generator with `seed`, so that no branch is zeroed out (the reference init zeroes adaLN and the
// output layer, which would hide missing gradients).
void randomize_parameters(torch::nn::Module& model, uint64_t seed, double scale = 0.2);

// A class-conditional SiT-T/4 on image_size^2 x 1 with ten classes (and the null one), its
// trainable weights randomized with scale 0.05 from `seed` (not adaLN-Zero's identity).
models::BackbonePtr tiny_sit(int64_t image_size, uint64_t seed);

// Backpropagates mean(forward(x, t, y)^2) and checks that every trainable parameter got a nonzero
// gradient; the only frozen one may be pos_embed. Returns the forward output.
torch::Tensor check_every_parameter_gets_gradient(models::Backbone& model, const torch::Tensor& x,
                                                  const torch::Tensor& t, const torch::Tensor& y);

}  // namespace fluxion::test
