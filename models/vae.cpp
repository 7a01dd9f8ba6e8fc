#include "models/vae.h"

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "models/module_state.h"

namespace fluxion::models {

namespace {
constexpr double kNormEps = 1e-6;

torch::nn::Conv2d conv3x3(int64_t in, int64_t out) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).padding(1));
}
torch::nn::GroupNorm norm(int64_t groups, int64_t channels) {
  return torch::nn::GroupNorm(torch::nn::GroupNormOptions(groups, channels).eps(kNormEps));
}
}  // namespace

VaeEncoderImpl::VaeEncoderImpl(const VaeConfig& c) {
  const auto& widths = c.block_out_channels;
  conv_in = register_module("conv_in", conv3x3(c.in_channels, widths.front()));
  down_blocks = register_module("down_blocks", torch::nn::ModuleList());
  for (size_t i = 0; i < widths.size(); ++i) {
    const auto in = i == 0 ? widths.front() : widths[i - 1];
    down_blocks->push_back(VaeDownBlock(in, widths[i], c.layers_per_block, c.norm_num_groups, i + 1 < widths.size()));
  }
  mid_block = register_module("mid_block", VaeMidBlock(widths.back(), c.norm_num_groups, c.mid_block_add_attention));
  conv_norm_out = register_module("conv_norm_out", norm(c.norm_num_groups, widths.back()));
  conv_out = register_module("conv_out", conv3x3(widths.back(), 2 * c.latent_channels));
}

torch::Tensor VaeEncoderImpl::forward(torch::Tensor x) {
  x = conv_in->forward(x);
  for (const auto& block : *down_blocks) x = block->as<VaeDownBlock>()->forward(x);
  x = mid_block->forward(x);
  return conv_out->forward(torch::silu(conv_norm_out->forward(x)));
}

VaeDecoderImpl::VaeDecoderImpl(const VaeConfig& c) {
  const std::vector<int64_t> widths(c.block_out_channels.rbegin(), c.block_out_channels.rend());
  conv_in = register_module("conv_in", conv3x3(c.latent_channels, widths.front()));
  mid_block = register_module("mid_block", VaeMidBlock(widths.front(), c.norm_num_groups, c.mid_block_add_attention));
  up_blocks = register_module("up_blocks", torch::nn::ModuleList());
  for (size_t i = 0; i < widths.size(); ++i) {
    const auto in = i == 0 ? widths.front() : widths[i - 1];
    up_blocks->push_back(VaeUpBlock(in, widths[i], c.layers_per_block + 1, c.norm_num_groups, i + 1 < widths.size()));
  }
  conv_norm_out = register_module("conv_norm_out", norm(c.norm_num_groups, widths.back()));
  conv_out = register_module("conv_out", conv3x3(widths.back(), c.out_channels));
}

torch::Tensor VaeDecoderImpl::forward(torch::Tensor z) {
  auto x = conv_in->forward(z);
  x = mid_block->forward(x);
  for (const auto& block : *up_blocks) x = block->as<VaeUpBlock>()->forward(x);
  return conv_out->forward(torch::silu(conv_norm_out->forward(x)));
}

AutoencoderKLImpl::AutoencoderKLImpl(VaeConfig config) : config_(std::move(config)) {
  config_.validate();
  encoder = register_module("encoder", VaeEncoder(config_));
  decoder = register_module("decoder", VaeDecoder(config_));
  const auto latent = config_.latent_channels;
  if (config_.use_quant_conv) {
    quant_conv = register_module("quant_conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(2 * latent, 2 * latent, 1)));
  }
  if (config_.use_post_quant_conv) {
    post_quant_conv =
        register_module("post_quant_conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(latent, latent, 1)));
  }
}

VaePosterior AutoencoderKLImpl::encode(const torch::Tensor& images) {
  FLUXION_CHECK(images.dim() == 4 && images.size(1) == config_.in_channels, "VAE: images of shape ", images.sizes(),
                " do not fit (B, ", config_.in_channels, ", H, W)");
  const auto f = config_.downsampling_factor();
  FLUXION_CHECK(images.size(2) % f == 0 && images.size(3) % f == 0, "VAE: image size ", images.size(2), "x",
                images.size(3), " is not a multiple of ", f);
  auto moments = encoder->forward(images);
  if (quant_conv) moments = quant_conv->forward(moments);
  auto halves = moments.chunk(2, 1);
  return {halves[0], halves[1].clamp(-30.0, 20.0)};
}

torch::Tensor AutoencoderKLImpl::latents(const torch::Tensor& images, const torch::Tensor& eps) {
  auto posterior = encode(images);
  auto z = posterior.mean;
  if (eps.defined()) {
    FLUXION_CHECK(eps.sizes() == z.sizes(), "VAE: eps of shape ", eps.sizes(), " does not fit latents ", z.sizes());
    z = z + torch::exp(0.5 * posterior.logvar) * eps.to(z.dtype());
  }
  return (z - config_.shift_factor) * config_.scaling_factor;
}

torch::Tensor AutoencoderKLImpl::decode_raw(const torch::Tensor& z) {
  FLUXION_CHECK(z.dim() == 4 && z.size(1) == config_.latent_channels, "VAE: latents of shape ", z.sizes(),
                " do not fit (B, ", config_.latent_channels, ", h, w)");
  // In the weights' dtype: float32, or bfloat16 for a VAE cast with to(torch::kBFloat16)
  const auto x = z.to(decoder->parameters().front().scalar_type());
  return decoder->forward(post_quant_conv ? post_quant_conv->forward(x) : x);
}

torch::Tensor AutoencoderKLImpl::decode(const torch::Tensor& latents) {
  return decode_raw(latents / config_.scaling_factor + config_.shift_factor);
}

void AutoencoderKLImpl::load_state(const core::TensorMap& tensors, const std::string& source) {
  load_module_state(*this, rename_legacy_vae_attention(tensors), source,
                    concat("AutoencoderKL ", vae_config_to_json(config_)));
}

core::TensorMap rename_legacy_vae_attention(const core::TensorMap& tensors) {
  static const std::pair<const char*, const char*> kRenames[] = {
      {".query.", ".to_q."}, {".key.", ".to_k."}, {".value.", ".to_v."}, {".proj_attn.", ".to_out.0."}};
  core::TensorMap renamed;
  for (const auto& [name, tensor] : tensors) {
    std::string new_name = name;
    if (name.find(".attentions.") != std::string::npos) {
      for (const auto& [from, to] : kRenames) {
        auto at = new_name.rfind(from);
        if (at != std::string::npos) {
          new_name.replace(at, std::string(from).size(), to);
          break;
        }
      }
    }
    renamed[new_name] = tensor;
  }
  return renamed;
}

AutoencoderKL load_vae(const std::string& weights_path, const std::string& config_path, const torch::Device& device) {
  FLUXION_CHECK(std::filesystem::exists(weights_path), "VAE weights file ", weights_path, " does not exist");
  VaeConfig config = vae_preset("sd-vae-ft-ema");
  if (!config_path.empty()) {
    std::ifstream in(config_path);
    FLUXION_CHECK(in, "cannot read VAE config ", config_path);
    config = vae_config_from_json(std::string(std::istreambuf_iterator<char>(in), {}));
  }
  AutoencoderKL vae(config);
  vae->load_state(core::load_safetensors(weights_path), weights_path);
  vae->to(device);
  vae->eval();
  return vae;
}

}  // namespace fluxion::models
