#pragma once
// The checkpoint format: one safetensors file per save, which training writes and resumes from
// and sampling reads. It lives here, with the objectives, because both sides need it and neither
// may depend on the other: train/ writes it, `fluxion sample` (objectives/generate.h) reads it.
//   <official names>        the live model weights (an official checkpoint converted with
//                           fluxion convert or tools/convert_checkpoint.py has only these)
//   ema.<name>, ema1.<name> the EMA weights, one prefix per decay (ema_prefix)
//   optim.<...>             AdamW moments and step
//   trainer.step, trainer.data_position
//   objective.<name>        what the objective needs at sampling time (Objective::state: Dale's
//                           log-normal prior)
// metadata: format, model_config (models::config_to_json), train_config (JSON; its objective,
// flow and dale keys say which objective trained the weights, objective_config.h), ema_decays,
// step. Written atomically (temporary file, fsync, rename), so a killed run always leaves the
// previous checkpoint or the new one, never a torn file.
#include <cstddef>
#include <string>
#include <vector>

#include "core/safetensors.h"

namespace fluxion::objectives {

inline constexpr const char* kCheckpointFormat = "fluxion-checkpoint-1";

// "ema" for the first decay, "ema1", "ema2"... for the others.
std::string ema_prefix(size_t index);

struct Checkpoint {
  core::TensorMap model;
  std::vector<core::TensorMap> emas;
  std::vector<double> ema_decays;
  core::TensorMap optimizer;
  core::TensorMap objective;
  int64_t step = 0;
  int64_t data_position = 0;
  std::string model_config;  // JSON
  std::string train_config;  // JSON
};

void save_checkpoint(const std::string& path, const Checkpoint& checkpoint);
Checkpoint load_checkpoint(const std::string& path);

// Weights for sampling or evaluation. which = "ema" (default; falls back to the live weights
// when the file has no EMA, e.g. a converted official checkpoint), "ema1"..., or "model".
struct ModelWeights {
  core::TensorMap weights;
  core::TensorMap objective;  // objective.* tensors (Dale's prior)
  std::string which;          // what was actually loaded
  std::string model_config;   // "" when the file does not say (official checkpoints)
  std::string train_config;   // "" likewise
};
ModelWeights load_model_weights(const std::string& path, const std::string& which = "ema");

}  // namespace fluxion::objectives
