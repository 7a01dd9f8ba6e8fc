#pragma once
// Everything a DRL finetuning run (`fluxion finetune`, issue 11) needs, with defaults that work
// on the default Fashion-MNIST model. The resolved config is written to the run directory
// (config.json) and into every checkpoint's train_config under the key "finetune", beside the
// base checkpoint's own training config, so that `fluxion sample` reads a finetuned checkpoint
// exactly like a trained one and `--resume` gets the recipe back.
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "train/drl_rollout.h"

namespace fluxion::train {

struct FinetuneConfig {
  // Inputs and outputs
  std::string checkpoint;  // the base: a fluxion flow checkpoint (its EMA weights, or `weights`)
  std::string weights = "ema";
  std::string data = "fashion-mnist:train";
  std::string features = "fmnist";  // frozen encoder: fmnist[:W] | fmnist-resnet[:W] | dinov2[:W] | inception[:W]
  std::string out = "runs/drl";
  // Discriminator stage (drl_disc_stage.h)
  std::string disc;             // reuse this discriminator file instead of training one
  int64_t disc_samples = 2000;  // M base samples and M real images
  int64_t disc_hidden = 1024;
  int64_t disc_epochs = 100;
  int64_t disc_patience = 5;
  int64_t disc_batch = 256;
  double disc_lr = 1e-4;
  std::string disc_sampler = "heun";  // the evaluation sampler that draws the base samples
  int64_t disc_sampler_steps = 25;
  int64_t refresh_every = 0;  // retrain against the policy every K steps (0: never)
  // What the KL is measured against after a refresh: the policy at that refresh (the reward is
  // then log p_data / p_policy, and p_policy exp(r / beta) is the data at beta = 1) or the
  // frozen base (the reward's reference and the KL's disagree: the target becomes the geometric
  // mixture p_base^(beta / (1 + beta)) p_data^(1 / (1 + beta)), never the data).
  std::string refresh_anchor = "policy";  // policy | base
  double disc_class_ratio = 1.0;          // n_data / n_base the head was trained with (log subtracted)
  double reward_scale = 1.0;
  // RL
  std::string algo = "grpo";       // grpo | reward-grad
  std::string adv_norm = "group";  // none | center | group | global | gdpo
  // Advantages clipped to +-this; < 0: 5 for the normalised ones (group, global, gdpo), none for
  // none and center, whose raw logit-scale returns a clip would bias.
  double adv_clip = -1.0;
  bool kl_to_go = true;        // grpo: the exact KL gradient (drl_update.h)
  double beta = 1.0;           // KL coefficient (A.2: 1 on raw logits targets the data)
  double clip_range = 1e-4;    // PPO epsilon
  int64_t steps = 100;         // RL steps (one rollout each)
  int64_t groups = 10;         // class groups per rollout
  int64_t group_size = 8;      // samples per group (G)
  int64_t rollout_steps = 10;  // K, the rollout grid (T_train)
  double noise_level = -1.0;   // a; < 0: 0.7 for grpo (Flow-GRPO), sqrt(2) for reward-grad (memoryless)
  int64_t sde_window = 0;      // grpo: stochastic steps (0: all), the rest ODE
  int64_t inner_epochs = 1;    // grpo: optimizer steps per rollout
  int64_t micro_batch = 0;     // samples per forward pass (0: all)
  double lr = 1e-4;
  double weight_decay = 0.0;
  double grad_clip = 1.0;
  double ema_decay = 0.9;  // the EMA `fluxion sample` reads by default
  // Runtime
  uint64_t seed = 0;
  std::string device = "auto";
  int64_t log_every = 5;
  int64_t ckpt_every = 50;
  int64_t sample_every = 50;
  int64_t keep_checkpoints = 3;
  int64_t grid_images = 100;  // held-out preview: fixed noise, guidance-free, the eval sampler
  int64_t data_threads = 0;

  void validate() const;  // throws fluxion::Error naming the bad option
  double resolved_noise_level() const;
  double resolved_adv_clip() const;
  RolloutOptions rollout_options() const;  // without the window start (drawn per rollout)
};

nlohmann::json to_json(const FinetuneConfig& config);
FinetuneConfig finetune_config_from_json(const nlohmann::json& json);

}  // namespace fluxion::train
