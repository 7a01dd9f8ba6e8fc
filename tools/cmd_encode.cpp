// fluxion encode --images SPEC --vae W -o LATENTS(.npz|DIR): SD-VAE posterior moments of an image
// set for latent training (train/encode_latents.h).
#include <iostream>

#include "tools/commands.h"
#include "train/distributed.h"
#include "train/encode_latents.h"

namespace fluxion::cli {

void add_encode(CLI::App& app) {
  auto config = std::make_shared<train::EncodeConfig>();
  auto* sub = app.add_subcommand("encode", "SD-VAE latents (posterior moments) of an image set, for latent models");
  sub->add_option("--images", config->images, "dataset spec: a class-folder tree (ImageNet train/), an .npz, ...")
      ->required();
  sub->add_option("--vae", config->vae, "AutoencoderKL weights (.safetensors with diffusers' names)")->required();
  sub->add_option("--vae-config", config->vae_config, "diffusers config.json of the VAE (default: the SD-VAE)");
  sub->add_option("-o,--output", config->output, "FILE.npz, or a folder of resumable shards")->required();
  sub->add_option("--image-size", config->image_size, "images are cropped to this square")->capture_default_str();
  sub->add_option("--crop", config->crop, "adm (ADM/SiT center_crop_arr) | resize (shorter side, centre crop)")
      ->capture_default_str();
  sub->add_flag("--flip", config->flip, "also encode each image's horizontal mirror");
  sub->add_option("--batch", config->batch, "images per batch")->capture_default_str();
  sub->add_option("--shard-size", config->shard_size, "images per shard (folder output)")->capture_default_str();
  sub->add_option("--limit", config->limit, "only the first N images (0: all)")->capture_default_str();
  sub->add_option("--device", config->device, "auto, cpu, cuda, cuda:N")->capture_default_str();
  sub->add_option("--precision", config->precision, "auto (bf16 on CUDA), fp32, bf16")->capture_default_str();
  sub->add_option("--threads", config->threads, "decoding threads (0: all cores)")->capture_default_str();
  sub->callback([config] {
    auto ranks = train::join_command_ranks(config->device, "encoding");
    config->device = ranks.device;
    config->ranks = ranks.group.get();
    const auto result = train::encode_latents(*config);
    if (!core::is_root(config->ranks)) return;  // rank 0 reports for the job
    std::cout << "encoded " << result.encoded << " images (" << result.kept << " kept from earlier runs) into "
              << config->output << ", " << result.shards << " shard(s), " << result.images_per_second << " img/s\n";
  });
}

}  // namespace fluxion::cli
