// fluxion sample: binds the options to GenerateConfig / SamplerConfig and runs objectives::generate.
#include <iostream>

#include "core/error.h"
#include "objectives/generate.h"
#include "tools/cli_options.h"
#include "tools/commands.h"
#include "tools/config_file.h"
#include "train/distributed.h"

namespace fluxion::cli {

void add_sample(CLI::App& app) {
  auto* sub = app.add_subcommand("sample", "sample images from a checkpoint to PNGs, a grid and an .npz");
  auto config = std::make_shared<objectives::GenerateConfig>();
  auto config_path = std::make_shared<std::string>();
  add_config_file_option(*sub, *config_path);
  auto interval = std::make_shared<std::string>();
  auto& c = *config;
  auto& s = c.sampler;
  sub->add_option("--ckpt", c.checkpoint, "checkpoint or converted official .safetensors (required)");
  add_weights_option(*sub, c.weights);
  sub->add_option("--model", c.model, "zoo name, for files without a stored config (official weights)");
  sub->add_option("--image-size", c.image_size, "with --model: input size");
  sub->add_option("--channels", c.channels, "with --model: input channels");
  sub->add_option("--num-classes", c.num_classes, "with --model: classes");
  sub->add_option("--n", c.n, "number of images")->capture_default_str();
  sub->add_option("--batch", c.batch, "images per batch")->capture_default_str();
  sub->add_option("--classes", c.classes, "balanced | K")->capture_default_str();
  add_seed_option(*sub, c.seed, "the noise");
  add_device_option(*sub, c.device);
  add_precision_option(*sub, c.precision);
  add_cuda_graphs_option(*sub, c.cuda_graphs, "the network (one graph per batch shape)");
  sub->add_option("--out", c.out, "folder for one PNG per image (index_label.png)");
  sub->add_option("--grid", c.grid, "grid PNG of the first images");
  add_grid_images_option(*sub, c.grid_images, "images in the grid");
  sub->add_option("--npz", c.npz, "ADM-style .npz: arr_0 uint8 NHWC, arr_1 labels");
  sub->add_option("--init-noise", c.init_noise, ".npy of (N, C, H, W) initial noise");
  add_vae_options(*sub, c.vae, c.vae_config, "the samples");
  sub->add_option("--quantization", c.quantization, "sit: clamp(127.5x+128) | adm: floor((x+1)127.5)")
      ->capture_default_str();

  add_sampler_option(*sub, "--sampler", s.name,
                     "the images (flow: euler | heun | midpoint | rk4 | dopri5 | dpm++2m | euler-maruyama | "
                     "sde-heun; dale: dls | ums)");
  sub->add_option("--delta", s.delta, "dls/ums step (0: stride T/N)")->capture_default_str();
  sub->add_option("--repeats", s.repeats, "dls/ums updates per noise level")->capture_default_str();
  sub->add_option("--anneal", s.anneal, "dls/ums noise factor per update")->capture_default_str();
  sub->add_option("--final-steps", s.final_steps, "dls/ums noise-free steps at t = 0")->capture_default_str();
  sub->add_option("--prior", c.prior, "dls/ums start: auto (class when stored) | class | channel (the authors')")
      ->capture_default_str();
  sub->add_flag("--last-noise", s.last_noise, "dls/ums: the last update adds noise too (the authors' loop)");
  sub->add_option("--level-stride", s.level_stride, "dls/ums: visit every k-th level")->capture_default_str();
  add_sampler_steps_option(*sub, "--steps", s.steps, "the sampler (NFE is printed)");
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
  add_cfg_option(*sub, "--cfg", s.cfg_scale, "the samples");
  add_cfg_interval_option(*sub, *interval);
  sub->add_option("--cfg-channels", s.cfg_channels, "-1: all channels, 3: SiT's first-3 rule")->capture_default_str();
  sub->add_option("--cfg-space", s.cfg_space, "output (SiT) | velocity (JiT)")->capture_default_str();

  sub->callback([sub, config, config_path, interval, path, prediction] {
    apply_config_file(*sub, *config_path);
    FLUXION_CHECK(!config->checkpoint.empty(), "fluxion sample: --ckpt is required");
    config->path_given = path->count() > 0;
    config->prediction_given = prediction->count() > 0;
    apply_cfg_interval(*interval, config->sampler);
    FLUXION_CHECK(!config->out.empty() || !config->grid.empty() || !config->npz.empty(),
                  "nothing to write: pass --out DIR, --grid F.png and/or --npz F.npz");
    auto ranks = train::join_command_ranks(config->device, "sampling");
    config->device = ranks.device;
    config->ranks = ranks.group.get();
    const auto result = objectives::generate(*config);
    if (!core::is_root(config->ranks)) return;  // rank 0 reports for the job
    std::cout << "sampled " << result.generated << " images (" << result.skipped << " reused) with "
              << result.sampler_description << "; NFE per batch " << result.nfe_per_batch << ", "
              << result.images_per_second << " images/s\n";
  });
}

}  // namespace fluxion::cli
