#pragma once
// `fluxion finetune`: discriminator-guided RL finetuning (DRL, issue 11) of a flow checkpoint.
//   1. the discriminator stage (drl_disc_stage.h), or --disc FILE; saved as disc.safetensors
//      with its held-out accuracy logged and written to metrics.jsonl (step 0);
//   2. RL steps: group rollouts per class label (drl_rollout.h), reward r = scale (logit -
//      log(n_d / n_b)) of the frozen encoder's features, then a grpo or reward-grad update
//      (drl_update.h) of the full policy against the frozen base, AdamW, gradient clipping, EMA.
// Run directory, as `fluxion train` writes it (DESIGN.md):
//   config.json                 the resolved FinetuneConfig
//   disc.safetensors            the discriminator (disc-step-XXXXXXX.safetensors after refreshes)
//   anchor-step-XXXXXXX.safetensors  the policy at a refresh, the KL's reference from then on
//                               (--refresh-anchor policy)
//   metrics.jsonl               step, loss, reward, reward_std, kl, disc_acc, clip_fraction,
//                               grad_norm, images_per_s, elapsed_s per logged step; held-out
//                               rewards as {"step", "eval": {"reward": ...}}
//   checkpoints/step-XXXXXXX.safetensors, last.safetensors: the checkpoint format of
//                               objectives/checkpoint.h (policy weights, EMA, AdamW moments); its
//                               train_config is the base's plus "finetune" (this config) and
//                               "finetune_state" (the discriminator and anchor in use), so `fluxion sample`
//                               samples it exactly like a trained checkpoint
//   samples/step-XXXXXXX.png    guidance-free grids of fixed held-out noise (EMA weights)
//   report.html                 reward, KL, discriminator accuracy and loss charts, the grids
// Resuming continues exactly (same weights as an uninterrupted run on the same device): every
// step's draws come from (seed, step).
#include <string>

#include "train/drl_config.h"

namespace fluxion::train {

struct FinetuneResult {
  int64_t steps_done = 0;
  double disc_holdout_accuracy = -1.0;  // of the discriminator the run started with (< 0: unknown)
  double first_eval_reward = 0.0;       // held-out reward of the base (step 0) and at the end
  double last_eval_reward = 0.0;
  std::string last_checkpoint;
};

// With `resume`, config.steps > 0 sets the new length; 0 keeps the checkpoint's.
FinetuneResult run_finetune(FinetuneConfig config, bool resume);

}  // namespace fluxion::train
