#include "models/embedders.h"

#include <cmath>

#include "models/layers.h"

namespace fluxion::models {

namespace nn = torch::nn;

torch::Tensor timestep_embedding(const torch::Tensor& t, int64_t dim, double max_period) {
  const int64_t half = dim / 2;
  auto float_opts = torch::TensorOptions().dtype(torch::kFloat).device(t.device());
  // Computed in float32 in the reference's order: exp(-log(P) * i / half).
  auto freqs = torch::exp(-std::log(max_period) * torch::arange(0, half, float_opts) / half);
  // (B,) x (half,) -> (B, half)
  auto args = t.reshape({-1, 1}).to(torch::kFloat) * freqs.unsqueeze(0);
  auto embedding = torch::cat({torch::cos(args), torch::sin(args)}, -1);
  if (dim % 2) embedding = torch::cat({embedding, torch::zeros_like(embedding.narrow(1, 0, 1))}, -1);
  return embedding;
}

TimestepEmbedderImpl::TimestepEmbedderImpl(int64_t hidden_size, int64_t frequency_size_)
    : frequency_size(frequency_size_) {
  mlp = register_module(
      "mlp", nn::Sequential(nn::Linear(frequency_size, hidden_size), nn::SiLU(), nn::Linear(hidden_size, hidden_size)));
}

torch::Tensor TimestepEmbedderImpl::forward(const torch::Tensor& t) {
  // The sinusoid is float32; follow the weights' dtype (float64 in gradient checks).
  const auto dtype = mlp[0]->as<nn::Linear>()->weight.scalar_type();
  auto h = linear(*mlp[0]->as<nn::Linear>(), timestep_embedding(t, frequency_size).to(dtype));
  return linear(*mlp[2]->as<nn::Linear>(), torch::silu(h));
}

void TimestepEmbedderImpl::reset_parameters_like_reference() {
  torch::NoGradGuard no_grad;
  for (int index : {0, 2}) {
    auto linear = mlp[index]->as<nn::Linear>();
    linear->weight.normal_(0.0, 0.02);
    linear->bias.zero_();
  }
}

LabelEmbedderImpl::LabelEmbedderImpl(int64_t num_classes_, int64_t hidden_size, double dropout_prob_,
                                     bool with_null_class)
    : num_classes(num_classes_), dropout_prob(dropout_prob_) {
  embedding_table =
      register_module("embedding_table", nn::Embedding(num_classes + (with_null_class ? 1 : 0), hidden_size));
  torch::NoGradGuard no_grad;
  embedding_table->weight.normal_(0.0, 0.02);
}

torch::Tensor LabelEmbedderImpl::forward(const torch::Tensor& labels) {
  auto ids = labels.to(torch::kLong);
  if (is_training() && dropout_prob > 0) {
    auto opts = torch::TensorOptions().device(ids.device());
    auto u = generator ? torch::rand({ids.size(0)}, *generator, opts) : torch::rand({ids.size(0)}, opts);
    ids = torch::where(u < dropout_prob, torch::full_like(ids, num_classes), ids);
  }
  return embedding_table->forward(ids);
}

void xavier_uniform_as_linear(torch::Tensor weight) {
  torch::NoGradGuard no_grad;
  auto flat = weight.view({weight.size(0), -1});
  torch::nn::init::xavier_uniform_(flat);
}

PatchEmbedImpl::PatchEmbedImpl(int64_t in_channels, int64_t hidden_size, int64_t patch_size) {
  proj =
      register_module("proj", nn::Conv2d(nn::Conv2dOptions(in_channels, hidden_size, patch_size).stride(patch_size)));
}

torch::Tensor PatchEmbedImpl::forward(const torch::Tensor& x) {
  // (B, C, H, W) -> (B, D, h, w) -> (B, N, D). Made contiguous once here: the transposed view would
  // otherwise set the layout of the whole residual stream (elementwise ops keep their first input's
  // layout), so that every LayerNorm copied its input and every residual update ran strided.
  return proj->forward(x).flatten(2).transpose(1, 2).contiguous();
}

void PatchEmbedImpl::reset_parameters_like_reference() {
  xavier_uniform_as_linear(proj->weight);
  torch::NoGradGuard no_grad;
  proj->bias.zero_();
}

BottleneckPatchEmbedImpl::BottleneckPatchEmbedImpl(int64_t in_channels, int64_t bottleneck_dim, int64_t hidden_size,
                                                   int64_t patch_size) {
  proj1 = register_module(
      "proj1", nn::Conv2d(nn::Conv2dOptions(in_channels, bottleneck_dim, patch_size).stride(patch_size).bias(false)));
  proj2 = register_module("proj2", nn::Conv2d(nn::Conv2dOptions(bottleneck_dim, hidden_size, 1)));
}

torch::Tensor BottleneckPatchEmbedImpl::forward(const torch::Tensor& x) {
  // (B, C, H, W) -> (B, d', h, w) -> (B, D, h, w) -> (B, N, D), contiguous as PatchEmbed's
  return proj2->forward(proj1->forward(x)).flatten(2).transpose(1, 2).contiguous();
}

void BottleneckPatchEmbedImpl::reset_parameters_like_reference() {
  xavier_uniform_as_linear(proj1->weight);
  xavier_uniform_as_linear(proj2->weight);
  torch::NoGradGuard no_grad;
  proj2->bias.zero_();
}

}  // namespace fluxion::models
