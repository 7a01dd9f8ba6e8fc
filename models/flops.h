#pragma once
// Floating-point operations of a backbone's forward pass, for model FLOP utilisation (MFU) in
// `fluxion bench`: every linear layer and convolution at 2 FLOPs per multiply-accumulate, and the
// attention products (q k^T and the weighted sum of v for softmax attention; k^T v and q (k^T v)
// for linear attention). Elementwise work, norms and softmax are not counted, as in the usual
// MFU definition (PaLM, appendix B).
#include "models/backbone.h"

namespace fluxion::models {

// FLOPs of one forward pass for one image.
double forward_flops_per_image(Backbone& model);

}  // namespace fluxion::models
