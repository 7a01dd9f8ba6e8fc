#pragma once
// Training checkpoints: one safetensors file per save.
//   <official names>        the live model weights (an official checkpoint converted with
//                           tools/convert_checkpoint.py has only these)
//   ema.<name>, ema1.<name> the EMA weights, one prefix per decay (EmaSet::prefix)
//   optim.<...>             AdamW moments and step
//   trainer.step, trainer.data_position
//   objective.<name>        what the objective needs at sampling time (Dale's log-normal prior)
// metadata: format, model_config (models::config_to_json), train_config (JSON), ema_decays, step.
// Written atomically (temporary file, fsync, rename), so a killed run always leaves the previous
// checkpoint or the new one, never a torn file.
#include <optional>
#include <string>
#include <vector>

#include "core/safetensors.h"

namespace fluxion::train {

inline constexpr const char* kCheckpointFormat = "fluxion-checkpoint-1";

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
  std::string which;         // what was actually loaded
  std::string model_config;  // "" when the file does not say (official checkpoints)
  std::string train_config;  // "" likewise
};
ModelWeights load_model_weights(const std::string& path, const std::string& which = "ema");

// checkpoints/step-0001000.safetensors
std::string checkpoint_name(int64_t step);
// Atomically points `last` at `target` (a hard link renamed into place; a copy where links fail).
void update_last_link(const std::string& target, const std::string& last);
// Deletes the oldest step-*.safetensors of `dir` beyond `keep` (0 keeps all).
void prune_checkpoints(const std::string& dir, int64_t keep);

}  // namespace fluxion::train
