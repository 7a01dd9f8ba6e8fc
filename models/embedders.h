#pragma once
// Conditioning and input embedders shared by SiT and JiT: the GLIDE sinusoidal timestep embedder,
// the class-label table with its null class, and the two patch embeddings.
#include <torch/torch.h>

#include <optional>

namespace fluxion::models {

// GLIDE sinusoid of a raw t (no x1000): [cos(t f), sin(t f)] with f_i = max_period^(-i/half).
// t (B,) -> (B, dim), float32.
torch::Tensor timestep_embedding(const torch::Tensor& t, int64_t dim, double max_period = 10000.0);

// Linear(256, D), SiLU, Linear(D, D): parameters `mlp.0.*`, `mlp.2.*`.
class TimestepEmbedderImpl : public torch::nn::Module {
 public:
  explicit TimestepEmbedderImpl(int64_t hidden_size, int64_t frequency_size = 256);
  torch::Tensor forward(const torch::Tensor& t);
  void reset_parameters_like_reference();  // N(0, 0.02) weights, zero biases

  torch::nn::Sequential mlp{nullptr};
  int64_t frequency_size;
};
TORCH_MODULE(TimestepEmbedder);

// `embedding_table` has num_classes + 1 rows when there is a null class; the null label is
// num_classes. In training mode each label is replaced by the null class with probability
// dropout_prob (classifier-free guidance training), drawn from `generator` when one is set.
class LabelEmbedderImpl : public torch::nn::Module {
 public:
  LabelEmbedderImpl(int64_t num_classes, int64_t hidden_size, double dropout_prob, bool with_null_class);
  torch::Tensor forward(const torch::Tensor& labels);

  torch::nn::Embedding embedding_table{nullptr};
  int64_t num_classes;
  double dropout_prob;
  std::optional<at::Generator> generator;
};
TORCH_MODULE(LabelEmbedder);

// timm PatchEmbed: Conv2d(C, D, p, stride p) named `proj`. (B, C, H, W) -> (B, N, D).
class PatchEmbedImpl : public torch::nn::Module {
 public:
  PatchEmbedImpl(int64_t in_channels, int64_t hidden_size, int64_t patch_size);
  torch::Tensor forward(const torch::Tensor& x);
  void reset_parameters_like_reference();  // xavier as if a Linear, zero bias

  torch::nn::Conv2d proj{nullptr};
};
TORCH_MODULE(PatchEmbed);

// JiT bottleneck: Conv2d(C, d', p, stride p, no bias) `proj1`, then 1x1 Conv2d(d', D) `proj2`.
class BottleneckPatchEmbedImpl : public torch::nn::Module {
 public:
  BottleneckPatchEmbedImpl(int64_t in_channels, int64_t bottleneck_dim, int64_t hidden_size, int64_t patch_size);
  torch::Tensor forward(const torch::Tensor& x);
  void reset_parameters_like_reference();

  torch::nn::Conv2d proj1{nullptr}, proj2{nullptr};
};
TORCH_MODULE(BottleneckPatchEmbed);

// Xavier-uniform on a weight viewed as (out, fan_in), as the references do for conv embeds.
void xavier_uniform_as_linear(torch::Tensor weight);

}  // namespace fluxion::models
