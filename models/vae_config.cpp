#include "models/vae_config.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "models/config_fields.h"

namespace fluxion::models {

void VaeConfig::validate() const {
  FLUXION_CHECK(in_channels > 0 && out_channels > 0 && latent_channels > 0,
                "VAE config: channel counts must be positive");
  FLUXION_CHECK(!block_out_channels.empty(), "VAE config: block_out_channels is empty");
  for (auto c : block_out_channels) {
    FLUXION_CHECK(c > 0 && norm_num_groups > 0 && c % norm_num_groups == 0, "VAE config: block width ", c,
                  " is not a multiple of norm_num_groups ", norm_num_groups);
  }
  FLUXION_CHECK(layers_per_block > 0, "VAE config: layers_per_block must be positive");
  FLUXION_CHECK(scaling_factor > 0, "VAE config: scaling_factor must be positive");
}

VaeConfig vae_preset(const std::string& name) {
  FLUXION_CHECK(name == "sd-vae-ft-ema" || name == "sd-vae-ft-mse", "unknown VAE '", name,
                "' (known: sd-vae-ft-ema, sd-vae-ft-mse, or a diffusers config.json)");
  return VaeConfig{};
}

VaeConfig vae_config_from_json(const std::string& text) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail("VAE config: not JSON (", e.what(), ")");
  }
  FLUXION_CHECK(j.is_object(), "VAE config: not a JSON object");
  if (j.contains("_class_name")) {
    auto cls = j.at("_class_name").dump();
    FLUXION_CHECK(cls == "\"AutoencoderKL\"", "VAE config: class ", cls, " is not AutoencoderKL");
  }
  VaeConfig c;
  read_config_field(j, "in_channels", c.in_channels);
  read_config_field(j, "out_channels", c.out_channels);
  read_config_field(j, "latent_channels", c.latent_channels);
  read_config_field(j, "block_out_channels", c.block_out_channels);
  read_config_field(j, "layers_per_block", c.layers_per_block);
  read_config_field(j, "norm_num_groups", c.norm_num_groups);
  read_config_field(j, "scaling_factor", c.scaling_factor);
  if (j.contains("shift_factor") && !j.at("shift_factor").is_null())
    read_config_field(j, "shift_factor", c.shift_factor);
  read_config_field(j, "use_quant_conv", c.use_quant_conv);
  read_config_field(j, "use_post_quant_conv", c.use_post_quant_conv);
  read_config_field(j, "mid_block_add_attention", c.mid_block_add_attention);
  auto check_all = [&](const char* key, const char* expected) {
    if (!j.contains(key)) return;
    for (const auto& v : j.at(key)) {
      FLUXION_CHECK(v == expected, "VAE config: ", key, " entry ", v.dump(), " is not supported (only ", expected, ")");
    }
  };
  check_all("down_block_types", "DownEncoderBlock2D");
  check_all("up_block_types", "UpDecoderBlock2D");
  if (j.contains("act_fn")) {
    FLUXION_CHECK(j.at("act_fn") == "silu", "VAE config: act_fn ", j.at("act_fn").dump(),
                  " is not supported (only silu)");
  }
  for (const char* key : {"down_block_types", "up_block_types"}) {
    if (j.contains(key)) {
      FLUXION_CHECK(j.at(key).size() == c.block_out_channels.size(), "VAE config: ", key, " has ", j.at(key).size(),
                    " entries for ", c.block_out_channels.size(), " block widths");
    }
  }
  c.validate();
  return c;
}

std::string vae_config_to_json(const VaeConfig& c) {
  nlohmann::json j = {{"_class_name", "AutoencoderKL"},
                      {"in_channels", c.in_channels},
                      {"out_channels", c.out_channels},
                      {"latent_channels", c.latent_channels},
                      {"block_out_channels", c.block_out_channels},
                      {"down_block_types", std::vector<std::string>(c.block_out_channels.size(), "DownEncoderBlock2D")},
                      {"up_block_types", std::vector<std::string>(c.block_out_channels.size(), "UpDecoderBlock2D")},
                      {"layers_per_block", c.layers_per_block},
                      {"norm_num_groups", c.norm_num_groups},
                      {"act_fn", "silu"},
                      {"scaling_factor", c.scaling_factor},
                      {"use_quant_conv", c.use_quant_conv},
                      {"use_post_quant_conv", c.use_post_quant_conv},
                      {"mid_block_add_attention", c.mid_block_add_attention}};
  if (c.shift_factor != 0.0) j["shift_factor"] = c.shift_factor;
  return j.dump();
}

}  // namespace fluxion::models
