// fluxion sample: binds the options to GenerateConfig / SamplerConfig and runs objectives::generate.
#include <iostream>

#include "core/error.h"
#include "tools/commands.h"
#include "tools/config_file.h"
#include "objectives/generate.h"

namespace fluxion::cli {

void add_sample(CLI::App& app) {
  auto* sub = app.add_subcommand("sample", "sample images from a checkpoint to PNGs, a grid and an .npz");
  auto config = std::make_shared<objectives::GenerateConfig>();
  auto config_path = std::make_shared<std::string>();
  add_config_option(*sub, *config_path, "read options from a TOML file (CLI options override it)");
  auto interval = std::make_shared<std::string>();
  auto& c = *config;
  auto& s = c.sampler;
  sub->add_option("--ckpt", c.checkpoint, "checkpoint or converted official .safetensors (required)");
  sub->add_option("--weights", c.weights, "ema | ema1 | ... | model")->capture_default_str();
  sub->add_option("--model", c.model, "zoo name, for files without a stored config (official weights)");
  sub->add_option("--image-size", c.image_size, "with --model: input size");
  sub->add_option("--channels", c.channels, "with --model: input channels");
  sub->add_option("--num-classes", c.num_classes, "with --model: classes");
  sub->add_option("--n", c.n, "number of images")->capture_default_str();
  sub->add_option("--batch", c.batch, "images per batch")->capture_default_str();
  sub->add_option("--classes", c.classes, "balanced | K")->capture_default_str();
  sub->add_option("--seed", c.seed, "seed of the noise")->capture_default_str();
  sub->add_option("--device", c.device, "auto | cpu | cuda | cuda:N")->capture_default_str();
  sub->add_option("--precision", c.precision, "auto (bf16 on CUDA) | fp32 | bf16")->capture_default_str();
  sub->add_option("--out", c.out, "folder for one PNG per image (index_label.png)");
  sub->add_option("--grid", c.grid, "grid PNG of the first images");
  sub->add_option("--grid-images", c.grid_images, "images in the grid")->capture_default_str();
  sub->add_option("--npz", c.npz, "ADM-style .npz: arr_0 uint8 NHWC, arr_1 labels");
  sub->add_option("--init-noise", c.init_noise, ".npy of (N, C, H, W) initial noise");
  sub->add_option("--vae", c.vae, "latent models: decode the samples with this AutoencoderKL (.safetensors)");
  sub->add_option("--vae-config", c.vae_config, "the VAE's diffusers config.json (default: the SD-VAE)");
  sub->add_option("--quantization", c.quantization, "sit: clamp(127.5x+128) | adm: floor((x+1)127.5)")
      ->capture_default_str();

  sub->add_option("--sampler", s.name,
                  "flow: euler | heun | midpoint | rk4 | dopri5 | dpm++2m | euler-maruyama | sde-heun; "
                  "dale: dls | ums")
      ->capture_default_str();
  sub->add_option("--delta", s.delta, "dls/ums step (0: stride T/N)")->capture_default_str();
  sub->add_option("--repeats", s.repeats, "dls/ums updates per noise level")->capture_default_str();
  sub->add_option("--anneal", s.anneal, "dls/ums noise factor per update")->capture_default_str();
  sub->add_option("--final-steps", s.final_steps, "dls/ums noise-free steps at t = 0")->capture_default_str();
  sub->add_option("--prior", c.prior, "dls/ums start: auto (class when stored) | class | channel (the authors')")
      ->capture_default_str();
  sub->add_flag("--last-noise", s.last_noise, "dls/ums: the last update adds noise too (the authors' loop)");
  sub->add_option("--level-stride", s.level_stride, "dls/ums: visit every k-th level")->capture_default_str();
  sub->add_option("--steps", s.steps, "solver steps (NFE is printed)")->capture_default_str();
  sub->add_option("--atol", s.atol, "dopri5 absolute tolerance")->capture_default_str();
  sub->add_option("--rtol", s.rtol, "dopri5 relative tolerance")->capture_default_str();
  sub->add_option("--time-shift", s.time_shift, "time-grid shift s (1: uniform)")->capture_default_str();
  sub->add_option("--start-eps", s.start_eps, "start the grid at t = eps")->capture_default_str();
  sub->add_option("--end-eps", s.end_eps, "end the grid at t = 1 - eps")->capture_default_str();
  sub->add_flag("--heun-last-euler", s.heun_last_step_euler, "JiT's Heun: the last step is Euler");
  sub->add_option("--diffusion", s.diffusion_form,
                  "SDE diffusion: constant | SBDM | sigma | linear | decreasing | increasing-decreasing")
      ->capture_default_str();
  sub->add_option("--diffusion-norm", s.diffusion_norm, "SDE diffusion scale")->capture_default_str();
  sub->add_option("--last-step", s.last_step, "SDE last step: none | mean | tweedie | euler")->capture_default_str();
  sub->add_option("--last-step-size", s.last_step_size, "SDE last step size")->capture_default_str();
  auto* path = sub->add_option("--path", s.path, "override the checkpoint's path: linear | gvp | vp");
  auto* prediction = sub->add_option("--prediction", s.prediction, "override: velocity | x | noise | score");
  sub->add_option("--t-eps", s.t_eps, "clamp of 1 - t for x-prediction");
  sub->add_option("--cfg", s.cfg_scale, "classifier-free guidance scale (1: off)")->capture_default_str();
  sub->add_option("--cfg-interval", *interval, "LO,HI: guide only for t in the interval");
  sub->add_option("--cfg-channels", s.cfg_channels, "-1: all channels, 3: SiT's first-3 rule")->capture_default_str();
  sub->add_option("--cfg-space", s.cfg_space, "output (SiT) | velocity (JiT)")->capture_default_str();

  sub->callback([sub, config, config_path, interval, path, prediction] {
    apply_config_file(*sub, *config_path);
    FLUXION_CHECK(!config->checkpoint.empty(), "fluxion sample: --ckpt is required");
    config->path_given = path->count() > 0;
    config->prediction_given = prediction->count() > 0;
    if (!interval->empty()) {
      const auto comma = interval->find(',');
      FLUXION_CHECK(comma != std::string::npos, "--cfg-interval expects LO,HI, got '", *interval, "'");
      try {
        config->sampler.cfg_interval_lo = std::stod(interval->substr(0, comma));
        config->sampler.cfg_interval_hi = std::stod(interval->substr(comma + 1));
      } catch (const std::exception&) {
        fail("--cfg-interval expects two numbers LO,HI, got '", *interval, "'");
      }
    }
    FLUXION_CHECK(!config->out.empty() || !config->grid.empty() || !config->npz.empty(),
                  "nothing to write: pass --out DIR, --grid F.png and/or --npz F.npz");
    const auto result = objectives::generate(*config);
    std::cout << "sampled " << result.generated << " images (" << result.skipped << " reused) with "
              << result.sampler_description << "; NFE per batch " << result.nfe_per_batch << ", "
              << result.images_per_second << " images/s\n";
  });
}

}  // namespace fluxion::cli
