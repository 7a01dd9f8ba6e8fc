#pragma once
// Options that several subcommands share (train, sample, finetune): each is registered here once,
// so its name, help and validation are written in one place. A command passes the field to bind
// and, where the option's purpose differs between commands, a short phrase saying what it is for
// there. Each helper registers one option, so a command keeps its own order of options (the order
// of --help and of the resolved config.toml).
#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>

#include "samplers/sampler_config.h"

namespace fluxion::cli {

// --config FILE, read by apply_config_file (tools/config_file.h).
void add_config_file_option(CLI::App& sub, std::string& path);

// --seed; `what` says which draws it seeds.
CLI::Option* add_seed_option(CLI::App& sub, uint64_t& seed, const std::string& what);
// --device auto | cpu | cuda | cuda:N (resolved by core::resolve_device).
CLI::Option* add_device_option(CLI::App& sub, std::string& device);
// --precision auto | fp32 | bf16 (resolved by core::resolve_precision).
CLI::Option* add_precision_option(CLI::App& sub, std::string& precision);
// --cuda-graphs: on CUDA, `what` replayed from CUDA graphs (the sampler's model:
// samplers/graphed_model.h; the training step: train/graphed_step.h).
CLI::Option* add_cuda_graphs_option(CLI::App& sub, bool& cuda_graphs, const std::string& what);
// --data-threads: image decoding threads.
CLI::Option* add_data_threads_option(CLI::App& sub, int64_t& threads);
// --weights: which weights of --ckpt are used.
CLI::Option* add_weights_option(CLI::App& sub, std::string& weights);
// --vae and --vae-config for latent models; `decodes` says what the VAE decodes.
void add_vae_options(CLI::App& sub, std::string& vae, std::string& vae_config, const std::string& decodes);

// A run directory (train, finetune): --out, the cadence of its files, and --resume.
CLI::Option* add_run_dir_option(CLI::App& sub, std::string& out);
// --log-every, --ckpt-every, --sample-every (`samples` names what is written then),
// --keep-checkpoints, in this order.
void add_run_cadence_options(CLI::App& sub, int64_t& log_every, int64_t& ckpt_every, int64_t& sample_every,
                             const std::string& samples, int64_t& keep_checkpoints);
// --grid-images; `what` says which images.
CLI::Option* add_grid_images_option(CLI::App& sub, int64_t& images, const std::string& what);
// AdamW's --weight-decay and the --grad-clip of the updates.
CLI::Option* add_weight_decay_option(CLI::App& sub, double& weight_decay);
CLI::Option* add_grad_clip_option(CLI::App& sub, double& grad_clip);
// --resume: continue the run in --out from checkpoints/last.safetensors.
CLI::Option* add_resume_flag(CLI::App& sub, bool& resume);
// The run length to pass on: with --resume and no --steps (on the command line or in the config
// file), 0, which keeps the checkpoint's length; otherwise `steps`.
int64_t run_length(bool resume, const CLI::Option& steps_option, int64_t steps);

// The sampler of a command under `name` (--sampler, --grid-sampler); `purpose` says what it
// samples ("" for the command's own samples).
CLI::Option* add_sampler_option(CLI::App& sub, const std::string& name, std::string& sampler,
                                const std::string& purpose);
// Its solver steps under `name` (--steps, --grid-steps, --sampler-steps).
CLI::Option* add_sampler_steps_option(CLI::App& sub, const std::string& name, int64_t& steps,
                                      const std::string& purpose);
// Its classifier-free guidance scale under `name` (--cfg, --grid-cfg).
CLI::Option* add_cfg_option(CLI::App& sub, const std::string& name, double& scale, const std::string& purpose);
// --cfg-interval LO,HI, kept as text until apply_cfg_interval parses it into `sampler` (after the
// config file is applied, where the other checks of the command run).
CLI::Option* add_cfg_interval_option(CLI::App& sub, std::string& interval);
void apply_cfg_interval(const std::string& interval, samplers::SamplerConfig& sampler);

}  // namespace fluxion::cli
