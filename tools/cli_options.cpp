#include "tools/cli_options.h"

#include "core/error.h"
#include "tools/config_file.h"

namespace fluxion::cli {

void add_config_file_option(CLI::App& sub, std::string& path) {
  add_config_option(sub, path, "read options from a TOML file (CLI options override it)");
}

CLI::Option* add_seed_option(CLI::App& sub, uint64_t& seed, const std::string& what) {
  return sub.add_option("--seed", seed, "seed of " + what)->capture_default_str();
}

CLI::Option* add_device_option(CLI::App& sub, std::string& device) {
  return sub.add_option("--device", device, "auto | cpu | cuda | cuda:N")->capture_default_str();
}

CLI::Option* add_precision_option(CLI::App& sub, std::string& precision) {
  return sub.add_option("--precision", precision, "auto (bf16 on CUDA) | fp32 | bf16")->capture_default_str();
}

CLI::Option* add_data_threads_option(CLI::App& sub, int64_t& threads) {
  return sub.add_option("--data-threads", threads, "decoding threads (0: all cores)")->capture_default_str();
}

CLI::Option* add_weights_option(CLI::App& sub, std::string& weights) {
  return sub.add_option("--weights", weights, "which weights of --ckpt: ema | ema1 | ... | model")
      ->capture_default_str();
}

void add_vae_options(CLI::App& sub, std::string& vae, std::string& vae_config, const std::string& decodes) {
  sub.add_option("--vae", vae, "latent models: decode " + decodes + " with this AutoencoderKL (.safetensors)");
  sub.add_option("--vae-config", vae_config, "the VAE's diffusers config.json (default: the SD-VAE)");
}

CLI::Option* add_run_dir_option(CLI::App& sub, std::string& out) {
  return sub.add_option("--out", out, "run directory")->capture_default_str();
}

void add_run_cadence_options(CLI::App& sub, int64_t& log_every, int64_t& ckpt_every, int64_t& sample_every,
                             const std::string& samples, int64_t& keep_checkpoints) {
  sub.add_option("--log-every", log_every, "steps between metrics.jsonl lines")->capture_default_str();
  sub.add_option("--ckpt-every", ckpt_every, "steps between checkpoints")->capture_default_str();
  sub.add_option("--sample-every", sample_every, "steps between " + samples)->capture_default_str();
  sub.add_option("--keep-checkpoints", keep_checkpoints, "step checkpoints kept (0: all)")->capture_default_str();
}

CLI::Option* add_grid_images_option(CLI::App& sub, int64_t& images, const std::string& what) {
  return sub.add_option("--grid-images", images, what)->capture_default_str();
}

CLI::Option* add_weight_decay_option(CLI::App& sub, double& weight_decay) {
  return sub.add_option("--weight-decay", weight_decay, "AdamW decoupled weight decay")->capture_default_str();
}

CLI::Option* add_grad_clip_option(CLI::App& sub, double& grad_clip) {
  return sub.add_option("--grad-clip", grad_clip, "max global gradient norm (0: off)")->capture_default_str();
}

CLI::Option* add_cuda_graphs_option(CLI::App& sub, bool& cuda_graphs, const std::string& what) {
  return sub
      .add_option("--cuda-graphs", cuda_graphs,
                  "on CUDA, replay " + what +
                      " from a CUDA graph captured once (the same results; false: launch "
                      "every kernel)")
      ->capture_default_str();
}

CLI::Option* add_resume_flag(CLI::App& sub, bool& resume) {
  return sub.add_flag("--resume", resume, "continue the run in --out from checkpoints/last.safetensors");
}

int64_t run_length(bool resume, const CLI::Option& steps_option, int64_t steps) {
  return resume && steps_option.count() == 0 ? 0 : steps;
}

CLI::Option* add_sampler_option(CLI::App& sub, const std::string& name, std::string& sampler,
                                const std::string& purpose) {
  return sub.add_option(name, sampler, "sampler of " + purpose)->capture_default_str();
}

CLI::Option* add_sampler_steps_option(CLI::App& sub, const std::string& name, int64_t& steps,
                                      const std::string& purpose) {
  return sub.add_option(name, steps, "solver steps of " + purpose)->capture_default_str();
}

CLI::Option* add_cfg_option(CLI::App& sub, const std::string& name, double& scale, const std::string& purpose) {
  return sub.add_option(name, scale, "classifier-free guidance scale of " + purpose + " (1: off)")
      ->capture_default_str();
}

CLI::Option* add_cfg_interval_option(CLI::App& sub, std::string& interval) {
  return sub.add_option("--cfg-interval", interval, "LO,HI: guide only for t in the interval");
}

void apply_cfg_interval(const std::string& interval, samplers::SamplerConfig& sampler) {
  if (interval.empty()) return;
  const auto comma = interval.find(',');
  FLUXION_CHECK(comma != std::string::npos, "--cfg-interval expects LO,HI, got '", interval, "'");
  try {
    sampler.cfg_interval_lo = std::stod(interval.substr(0, comma));
    sampler.cfg_interval_hi = std::stod(interval.substr(comma + 1));
  } catch (const std::exception&) {
    fail("--cfg-interval expects two numbers LO,HI, got '", interval, "'");
  }
}

}  // namespace fluxion::cli
