// fluxion train: binds the options to TrainConfig and runs train::run_training.
#include <iostream>

#include "core/log.h"
#include "tools/cli_options.h"
#include "tools/commands.h"
#include "tools/config_file.h"
#include "train/distributed.h"
#include "train/trainer.h"

namespace fluxion::cli {

void add_train(CLI::App& app) {
  auto* sub = app.add_subcommand("train", "train a generator (defaults: the class-conditional Fashion-MNIST run)");
  auto config = std::make_shared<train::TrainConfig>();
  auto config_path = std::make_shared<std::string>();
  add_config_file_option(*sub, *config_path);
  auto resume = std::make_shared<bool>(false);
  auto& c = *config;
  auto& f = c.objective.flow;

  sub->add_option("--model", c.model, "zoo model name (fluxion inspect --model ?)")->capture_default_str();
  sub->add_option("--attention", c.attention, "softmax | gated | gated-headwise | linear")->capture_default_str();
  sub->add_option("--objective", c.objective.name, "flow | dale (multiplicative score matching)")
      ->capture_default_str();
  sub->add_option("--data", c.data,
                  "fashion-mnist:train, mnist:DIR, cifar10:DIR, an image folder, an .npz, or latents:PATH "
                  "(`fluxion encode` output)")
      ->capture_default_str();
  sub->add_option("--image-size", c.image_size, "train at this resolution (pad or resize; latents: theirs)")
      ->capture_default_str();
  sub->add_option("--crop", c.crop, "larger images: resize (shorter side, centre crop) | adm (ADM/SiT center_crop_arr)")
      ->capture_default_str();
  add_vae_options(*sub, c.vae, c.vae_config, "the sample grids");
  add_data_threads_option(*sub, c.data_threads);

  sub->add_option("--path", f.path, "linear | gvp | vp")->capture_default_str();
  sub->add_option("--prediction", f.prediction, "velocity | noise | score | x (JiT: x with v-loss)")
      ->capture_default_str();
  sub->add_option("--loss-weight", f.loss_weight, "none | velocity | likelihood (noise/score)")->capture_default_str();
  sub->add_option("--time-sampling", f.time_sampling, "uniform | logit-normal")->capture_default_str();
  sub->add_option("--t0", f.t0, "uniform time interval start (-1: SiT's default)")->capture_default_str();
  sub->add_option("--t1", f.t1, "uniform time interval end (-1: SiT's default)")->capture_default_str();
  sub->add_option("--logit-mean", f.logit_mean, "logit-normal mean (JiT P_mean)")->capture_default_str();
  sub->add_option("--logit-std", f.logit_std, "logit-normal std (JiT P_std)")->capture_default_str();
  sub->add_option("--noise-scale", f.noise_scale, "noise std (JiT: image_size / 256)")->capture_default_str();
  sub->add_option("--t-eps", f.x_pred_t_eps, "clamp of 1 - t for x-prediction (JiT 0.05)")->capture_default_str();
  sub->add_option("--label-dropout", f.label_dropout, "probability of the null label (CFG)")->capture_default_str();

  auto& d = c.objective.dale;
  sub->add_option("--dale-sigma", d.sigma, "dale: GBM volatility sigma")->capture_default_str();
  sub->add_option("--dale-mu", d.mu, "dale: GBM drift mu (sigma^2/2: no log-space drift)")->capture_default_str();
  sub->add_option("--dale-levels", d.levels, "dale: noise levels N")->capture_default_str();
  sub->add_option("--dale-horizon", d.horizon, "dale: horizon T")->capture_default_str();
  sub->add_option("--dale-offset", d.offset, "dale: data mapped to [offset, offset + 1]")->capture_default_str();
  sub->add_option("--dale-weighting", d.weighting, "dale: noise | sigma2t (the authors') | unit")
      ->capture_default_str();
  sub->add_option("--dale-input", d.input, "dale: backbone input log | linear (the authors')")->capture_default_str();
  sub->add_option("--dale-output", d.output, "dale: backbone output noise | score (the authors')")
      ->capture_default_str();
  sub->add_option("--grid-level-stride", c.grid_level_stride, "dale: grids visit every k-th level")
      ->capture_default_str();

  auto* steps =
      sub->add_option("--steps", c.steps, "optimizer steps (with --resume: the new total)")->capture_default_str();
  sub->add_option("--batch", c.batch, "images per step")->capture_default_str();
  sub->add_option("--grad-accum", c.grad_accum, "micro-batches per step")->capture_default_str();
  sub->add_option("--lr", c.lr, "peak learning rate")->capture_default_str();
  sub->add_option("--beta1", c.beta1, "AdamW beta1")->capture_default_str();
  sub->add_option("--beta2", c.beta2, "AdamW beta2")->capture_default_str();
  add_weight_decay_option(*sub, c.weight_decay);
  sub->add_option("--adam-eps", c.adam_eps, "AdamW epsilon")->capture_default_str();
  sub->add_option("--warmup", c.warmup, "linear warmup steps")->capture_default_str();
  sub->add_option("--lr-schedule", c.lr_schedule, "constant | cosine | linear (after warmup)")->capture_default_str();
  sub->add_option("--final-lr", c.final_lr, "end of the cosine/linear decay")->capture_default_str();
  add_grad_clip_option(*sub, c.grad_clip);
  sub->add_option("--ema", c.ema_decays, "EMA decays; the first is used for sampling")->capture_default_str();
  sub->add_option("--on-nonfinite", c.on_nonfinite, "stop | skip a step whose loss is not finite")
      ->capture_default_str();

  add_seed_option(*sub, c.seed, "the data order, noise and times");
  add_device_option(*sub, c.device);
  add_precision_option(*sub, c.precision);
  add_cuda_graphs_option(*sub, c.cuda_graphs, "the training step (one micro-batch per step, one process)");
  add_run_dir_option(*sub, c.out);
  add_run_cadence_options(*sub, c.log_every, c.ckpt_every, c.sample_every, "sample grids", c.keep_checkpoints);
  add_grid_images_option(*sub, c.grid_images, "images in each sample grid (0: no grids)");
  add_sampler_option(*sub, "--grid-sampler", c.grid_sampler, "the grids");
  add_sampler_steps_option(*sub, "--grid-steps", c.grid_steps, "the grids");
  add_cfg_option(*sub, "--grid-cfg", c.grid_cfg, "the grids");
  sub->add_option("--eval-every", c.eval_every,
                  "FD of the EMA's samples every N steps, in metrics.jsonl and the report (0: never)")
      ->capture_default_str();
  sub->add_option("--eval-samples", c.eval_samples, "samples per evaluation (the grid's sampler, seed 0)")
      ->capture_default_str();
  sub->add_option("--eval-features", c.eval_features,
                  "auto (fmnist for Fashion-MNIST, else inception) or a --features spec")
      ->capture_default_str();
  sub->add_option("--eval-ref", c.eval_ref,
                  "reference: a dataset spec or a statistics .npz (default: the training data)");
  add_resume_flag(*sub, *resume);

  sub->callback([sub, config, config_path, resume, steps] {
    apply_config_file(*sub, *config_path);
    config->steps = run_length(*resume, *steps, config->steps);
    config->objective.dale.label_dropout = config->objective.flow.label_dropout;
    const std::string toml = resolved_config_toml(*sub);
    const auto result = train::run_training(*config, *resume, toml);
    if (train::dist_env_from_environment().rank != 0) return;  // rank 0 reports for the job
    std::cout << "trained to step " << result.steps_done << ", loss " << result.final_loss << ", "
              << result.images_per_second << " images/s; checkpoint " << result.last_checkpoint << "\n";
  });
}

}  // namespace fluxion::cli
