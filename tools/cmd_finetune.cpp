// fluxion finetune: binds the options to FinetuneConfig and runs train::run_finetune
// (discriminator-guided RL finetuning, issue 11).
#include <iostream>
#include <string>

#include "tools/cli_options.h"
#include "tools/commands.h"
#include "tools/config_file.h"
#include "tools/offline_flag.h"
#include "train/drl_finetune.h"

namespace fluxion::cli {

void add_finetune(CLI::App& app) {
  auto* sub = app.add_subcommand(
      "finetune", "discriminator-guided RL finetuning (DRL) of a flow checkpoint towards the data distribution");
  auto config = std::make_shared<train::FinetuneConfig>();
  auto config_path = std::make_shared<std::string>();
  add_config_file_option(*sub, *config_path);
  auto resume = std::make_shared<bool>(false);
  auto& c = *config;

  sub->add_option("--ckpt", c.checkpoint, "the base: a flow checkpoint written by fluxion train");
  add_weights_option(*sub, c.weights);
  sub->add_option("--data", c.data, "real images: fashion-mnist:train, mnist:DIR, cifar10:DIR, a folder, an .npz")
      ->capture_default_str();
  sub->add_option("--features", c.features,
                  "frozen encoder: fmnist[:W] | fmnist-resnet[:W] | dinov2[:W] | inception[:W] | inception-adm[:W]")
      ->capture_default_str();
  add_run_dir_option(*sub, c.out);

  sub->add_option("--disc", c.disc, "reuse this discriminator (.safetensors) instead of training one");
  sub->add_option("--disc-samples", c.disc_samples, "M: base samples and real images of the discriminator stage")
      ->capture_default_str();
  sub->add_option("--disc-hidden", c.disc_hidden, "hidden width of the discriminator head")->capture_default_str();
  sub->add_option("--disc-epochs", c.disc_epochs, "most epochs of the discriminator")->capture_default_str();
  sub->add_option("--disc-patience", c.disc_patience, "epochs without better held-out accuracy before stopping")
      ->capture_default_str();
  sub->add_option("--disc-batch", c.disc_batch, "discriminator batch (half real, half generated)")
      ->capture_default_str();
  sub->add_option("--disc-lr", c.disc_lr, "discriminator AdamW learning rate")->capture_default_str();
  add_sampler_option(*sub, "--sampler", c.disc_sampler, "the evaluation (discriminator samples, grids)");
  add_sampler_steps_option(*sub, "--sampler-steps", c.disc_sampler_steps, "the evaluation sampler");
  sub->add_option("--refresh-every", c.refresh_every,
                  "retrain the discriminator on policy samples every K steps (0: never)")
      ->capture_default_str();
  sub->add_option("--refresh-anchor", c.refresh_anchor,
                  "after a refresh, the KL is to: policy (the weights at the refresh; targets the data at beta 1) | "
                  "base (the frozen base throughout)")
      ->capture_default_str();
  sub->add_option("--disc-class-ratio", c.disc_class_ratio,
                  "n_data / n_base the discriminator was trained with; log of it is subtracted from the logit")
      ->capture_default_str();
  sub->add_option("--reward-scale", c.reward_scale, "reward = scale * logit")->capture_default_str();

  sub->add_option("--algo", c.algo, "grpo (Flow-GRPO) | reward-grad (backpropagates the reward's gradient)")
      ->capture_default_str();
  sub->add_option("--adv-norm", c.adv_norm, "none | center (group baseline, no rescaling) | group | global | gdpo")
      ->capture_default_str();
  sub->add_option("--adv-clip", c.adv_clip,
                  "advantages clipped to +-this (< 0: 5 for group, global and gdpo; no clip for none and center)")
      ->capture_default_str();
  sub->add_option("--kl-to-go", c.kl_to_go,
                  "grpo: credit each step with the KL of the steps after it (the exact KL gradient)")
      ->capture_default_str();
  sub->add_option("--beta", c.beta, "KL coefficient (1 on raw logits targets the data distribution)")
      ->capture_default_str();
  sub->add_option("--clip-range", c.clip_range, "PPO clip epsilon")->capture_default_str();
  auto* steps = sub->add_option("--steps", c.steps, "RL steps (with --resume: the new total)")->capture_default_str();
  sub->add_option("--groups", c.groups, "class groups per rollout")->capture_default_str();
  sub->add_option("--group-size", c.group_size, "samples per group (G)")->capture_default_str();
  sub->add_option("--rollout-steps", c.rollout_steps, "steps of the rollout grid (T_train)")->capture_default_str();
  sub->add_option("--noise-level", c.noise_level, "SDE noise level a (< 0: 0.7 for grpo, sqrt 2 for reward-grad)")
      ->capture_default_str();
  sub->add_option("--sde-window", c.sde_window, "grpo: stochastic steps in the first half (0: all steps)")
      ->capture_default_str();
  sub->add_option("--inner-epochs", c.inner_epochs, "grpo: optimizer steps per rollout")->capture_default_str();
  sub->add_option("--micro-batch", c.micro_batch, "samples per forward pass (0: the whole rollout)")
      ->capture_default_str();
  sub->add_option("--lr", c.lr, "AdamW learning rate")->capture_default_str();
  add_weight_decay_option(*sub, c.weight_decay);
  add_grad_clip_option(*sub, c.grad_clip);
  sub->add_option("--ema", c.ema_decay, "EMA decay of the sampled weights")->capture_default_str();

  add_seed_option(*sub, c.seed, "every draw");
  add_device_option(*sub, c.device);
  add_run_cadence_options(*sub, c.log_every, c.ckpt_every, c.sample_every, "held-out grids and rewards",
                          c.keep_checkpoints);
  add_grid_images_option(*sub, c.grid_images, "held-out preview images (0: none)");
  add_data_threads_option(*sub, c.data_threads);
  add_resume_flag(*sub, *resume);
  add_offline_flag(*sub);

  sub->callback([sub, config, config_path, resume, steps] {
    apply_config_file(*sub, *config_path);
    config->steps = run_length(*resume, *steps, config->steps);
    const auto result = train::run_finetune(*config, *resume);
    std::cout << "finetuned to step " << result.steps_done << "; discriminator held-out accuracy "
              << (result.disc_holdout_accuracy >= 0 ? std::to_string(result.disc_holdout_accuracy)
                                                    : std::string("unknown (its --disc file does not say)"))
              << "; held-out reward " << result.first_eval_reward << " -> " << result.last_eval_reward
              << "; checkpoint " << result.last_checkpoint << "\n";
  });
}

}  // namespace fluxion::cli
