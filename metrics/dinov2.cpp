#include "metrics/dinov2.h"

#include <cmath>

#include "core/compat.h"
#include "core/error.h"
#include "models/layers.h"

namespace fluxion::metrics {

namespace {
namespace F = torch::nn::functional;

std::shared_ptr<torch::nn::Module> child(torch::nn::Module& parent, const std::string& name) {
  return parent.register_module(name, std::make_shared<torch::nn::Module>());
}

// One transformer block: pre-norm attention and MLP, each scaled by LayerScale.
class Dinov2LayerImpl : public torch::nn::Module {
 public:
  explicit Dinov2LayerImpl(const Dinov2Config& c) : heads_(c.num_heads), swiglu_(c.swiglu) {
    const int64_t C = c.hidden_size;
    const auto ln = torch::nn::LayerNormOptions({C}).eps(c.layer_norm_eps);
    norm1 = register_module("norm1", torch::nn::LayerNorm(ln));
    auto attention = child(*this, "attention");
    auto self = child(*attention, "attention");
    query = self->register_module("query", torch::nn::Linear(C, C));
    key = self->register_module("key", torch::nn::Linear(C, C));
    value = self->register_module("value", torch::nn::Linear(C, C));
    dense = child(*attention, "output")->register_module("dense", torch::nn::Linear(C, C));
    lambda1 = child(*this, "layer_scale1")->register_parameter("lambda1", torch::ones({C}));
    norm2 = register_module("norm2", torch::nn::LayerNorm(ln));
    auto mlp = child(*this, "mlp");
    int64_t hidden = static_cast<int64_t>(static_cast<double>(C) * c.mlp_ratio);
    if (swiglu_) {
      hidden = (static_cast<int64_t>(static_cast<double>(hidden) * 2.0 / 3.0) + 7) / 8 * 8;
      fc1 = mlp->register_module("weights_in", torch::nn::Linear(C, 2 * hidden));
      fc2 = mlp->register_module("weights_out", torch::nn::Linear(hidden, C));
    } else {
      fc1 = mlp->register_module("fc1", torch::nn::Linear(C, hidden));
      fc2 = mlp->register_module("fc2", torch::nn::Linear(hidden, C));
    }
    lambda2 = child(*this, "layer_scale2")->register_parameter("lambda1", torch::ones({C}));
  }

  torch::Tensor forward(const torch::Tensor& x) {
    const int64_t B = x.size(0), N = x.size(1), C = x.size(2), d = C / heads_;
    auto h = norm1->forward(x);
    // (B, N, C) -> (B, H, N, d)
    auto split = [&](const torch::Tensor& t) { return t.view({B, N, heads_, d}).transpose(1, 2); };
    auto attended = compat::scaled_dot_product_attention(split(models::linear(query, h)), split(models::linear(key, h)),
                                                         split(models::linear(value, h)));
    // (B, H, N, d) -> (B, N, C)
    attended = attended.transpose(1, 2).reshape({B, N, C});
    auto out = x + models::linear(dense, attended) * lambda1;
    h = models::linear(fc1, norm2->forward(out));
    if (swiglu_) {
      auto halves = h.chunk(2, -1);
      h = torch::silu(halves[0]) * halves[1];
    } else {
      h = torch::gelu(h);
    }
    return out + models::linear(fc2, h) * lambda2;
  }

  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  torch::nn::Linear query{nullptr}, key{nullptr}, value{nullptr}, dense{nullptr}, fc1{nullptr}, fc2{nullptr};
  torch::Tensor lambda1, lambda2;

 private:
  int64_t heads_;
  bool swiglu_;
};
TORCH_MODULE(Dinov2Layer);
}  // namespace

Dinov2Config dinov2_config(const std::string& name) {
  Dinov2Config c;
  std::string base = name;
  const std::string reg = "_reg";
  if (base.size() > reg.size() && base.compare(base.size() - reg.size(), reg.size(), reg) == 0) {
    c.num_registers = 4;
    base = base.substr(0, base.size() - reg.size());
  }
  if (base == "vits14") {
    c.hidden_size = 384;
    c.num_layers = 12;
    c.num_heads = 6;
  } else if (base == "vitb14") {
    c.hidden_size = 768;
    c.num_layers = 12;
    c.num_heads = 12;
  } else if (base == "vitl14") {
    c.hidden_size = 1024;
    c.num_layers = 24;
    c.num_heads = 16;
  } else if (base == "vitg14") {
    c.hidden_size = 1536;
    c.num_layers = 40;
    c.num_heads = 24;
    c.swiglu = true;
  } else
    fail("dinov2: unknown model '", name, "' (vits14, vitb14, vitl14, vitg14, optionally _reg)");
  return c;
}

Dinov2Impl::Dinov2Impl(const Dinov2Config& config) : config_(config) {
  const int64_t C = config.hidden_size;
  const int64_t grid = config.image_size / config.patch_size;
  embeddings_ = child(*this, "embeddings");
  cls_token_ = embeddings_->register_parameter("cls_token", torch::zeros({1, 1, C}));
  mask_token_ = embeddings_->register_parameter("mask_token", torch::zeros({1, C}));
  position_embeddings_ = embeddings_->register_parameter("position_embeddings", torch::zeros({1, grid * grid + 1, C}));
  if (config.num_registers > 0) {
    register_tokens_ = embeddings_->register_parameter("register_tokens", torch::zeros({1, config.num_registers, C}));
  }
  projection_ = child(*embeddings_, "patch_embeddings")
                    ->register_module(
                        "projection",
                        torch::nn::Conv2d(torch::nn::Conv2dOptions(3, C, config.patch_size).stride(config.patch_size)));
  encoder_ = child(*this, "encoder");
  layers_ = encoder_->register_module("layer", torch::nn::ModuleList());
  for (int64_t i = 0; i < config.num_layers; ++i) layers_->push_back(Dinov2Layer(config));
  layernorm_ =
      register_module("layernorm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({C}).eps(config.layer_norm_eps)));
}

torch::Tensor Dinov2Impl::interpolated_positions(int64_t grid_h, int64_t grid_w) const {
  const int64_t num_positions = position_embeddings_.size(1) - 1;
  if (grid_h * grid_w == num_positions && grid_h == grid_w) return position_embeddings_;
  const int64_t M = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(num_positions))));
  FLUXION_CHECK(M * M == num_positions, "dinov2: position table of ", num_positions, " entries is not a square grid");
  const int64_t C = position_embeddings_.size(2);
  auto cls_pos = position_embeddings_.narrow(1, 0, 1);
  // (1, M*M, C) -> (1, C, M, M)
  auto table =
      position_embeddings_.narrow(1, 1, num_positions).reshape({1, M, M, C}).permute({0, 3, 1, 2}).to(torch::kFloat);
  torch::Tensor resized;
  if (config_.interpolation == PositionInterpolation::offset_0_1) {
    // the scale factor, not the size, sets the sampling positions (dino issue #8)
    const double sh = (static_cast<double>(grid_h) + 0.1) / static_cast<double>(M);
    const double sw = (static_cast<double>(grid_w) + 0.1) / static_cast<double>(M);
    resized = torch::upsample_bicubic2d(table, {grid_h, grid_w}, false, sh, sw);
  } else {
    resized = torch::upsample_bicubic2d(table, {grid_h, grid_w}, false);
  }
  // (1, C, h, w) -> (1, h*w, C)
  resized = resized.to(position_embeddings_.scalar_type()).permute({0, 2, 3, 1}).reshape({1, -1, C});
  return torch::cat({cls_pos, resized}, 1);
}

Dinov2Output Dinov2Impl::forward(const torch::Tensor& pixel_values) {
  FLUXION_CHECK(pixel_values.dim() == 4 && pixel_values.size(1) == 3, "dinov2: input must be (B, 3, H, W), got shape ",
                pixel_values.sizes());
  const int64_t B = pixel_values.size(0), H = pixel_values.size(2), W = pixel_values.size(3);
  const int64_t p = config_.patch_size;
  // (B, 3, H, W) -> (B, C, H/p, W/p) -> (B, N, C)
  auto x = projection_->forward(pixel_values.to(projection_->weight.scalar_type()));
  x = x.flatten(2).transpose(1, 2);
  x = torch::cat({cls_token_.expand({B, -1, -1}), x}, 1);
  x = x + interpolated_positions(H / p, W / p);
  if (register_tokens_.defined()) {
    // registers go between CLS and the patches, after the position codes
    x = torch::cat({x.narrow(1, 0, 1), register_tokens_.expand({B, -1, -1}), x.narrow(1, 1, x.size(1) - 1)}, 1);
  }
  for (const auto& layer : *layers_) x = layer->as<Dinov2LayerImpl>()->forward(x);
  x = layernorm_->forward(x);
  return {x, x.select(1, 0)};
}

torch::Tensor dinov2_preprocess(const torch::Tensor& images_u8, int64_t size) {
  FLUXION_CHECK(images_u8.dim() == 4 && (images_u8.size(1) == 1 || images_u8.size(1) == 3),
                "dinov2: images must be (B, 1|3, H, W), got shape ", images_u8.sizes());
  auto x = images_u8.to(torch::kFloat);
  if (x.size(1) == 1) x = x.expand({-1, 3, -1, -1});
  if (x.size(2) != size || x.size(3) != size) {
    // PIL's Image.resize(BICUBIC) of a uint8 image: a horizontal pass, rounded and clamped to
    // uint8, then a vertical pass, rounded and clamped again. torch's antialiased bicubic has
    // PIL's kernel (a = -0.5, support widened when shrinking); the uint8 step between the passes
    // matters where the kernel overshoots (hard edges near 0 or 255).
    auto pass = [](const torch::Tensor& in, int64_t h, int64_t w) {
      return F::interpolate(in, F::InterpolateFuncOptions()
                                    .size(std::vector<int64_t>{h, w})
                                    .mode(torch::kBicubic)
                                    .align_corners(false)
                                    .antialias(true))
          .round()
          .clamp(0, 255);
    };
    if (x.size(3) != size) x = pass(x, x.size(2), size);
    if (x.size(2) != size) x = pass(x, size, size);
  }
  x = x / 255.0f;
  const auto opts = x.options();
  const auto mean = torch::tensor({0.485f, 0.456f, 0.406f}, opts).view({1, 3, 1, 1});
  const auto std = torch::tensor({0.229f, 0.224f, 0.225f}, opts).view({1, 3, 1, 1});
  return (x - mean) / std;
}

torch::Tensor Dinov2Impl::extract(const torch::Tensor& images_u8) { return forward(dinov2_preprocess(images_u8)).cls; }

}  // namespace fluxion::metrics
