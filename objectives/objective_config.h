#pragma once
// Choosing an objective: the part of the training config that names it (`--objective flow|dale`
// with its settings), its JSON form inside every checkpoint's train_config, and the one factory
// that builds an Objective from it.
//
// JSON: the keys "objective", "flow" and "dale" of a training config object (train/train_config.h
// writes the other keys of the same object). Keys a JSON object lacks keep the defaults, except
// that a "dale" object written before the log input and noise output existed keeps the authors'
// parameterization it was trained with (input linear, output score, weighting sigma2t).
#include <cstdint>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "objectives/checkpoint.h"
#include "objectives/dale_objective.h"
#include "objectives/flow_objective.h"
#include "objectives/objective.h"

namespace fluxion::objectives {

struct ObjectiveConfig {
  std::string name = "flow";  // flow | dale (multiplicative score matching)
  FlowConfig flow;
  DaleConfig dale;

  // The name and both settings (a resumed run may switch neither, but a bad one is still bad).
  void validate() const;
};

// One field list serves both directions; keys are the member names.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(FlowConfig, path, prediction, loss_weight, time_sampling, t0, t1,
                                                logit_mean, logit_std, noise_scale, x_pred_t_eps, label_dropout)
// Written by hand for the older checkpoints' defaults (above).
void to_json(nlohmann::json& json, const DaleConfig& config);
void from_json(const nlohmann::json& json, DaleConfig& config);

// Writes the keys "objective", "flow", "dale" into a training config object.
void add_objective_json(nlohmann::json& train_config, const ObjectiveConfig& config);
// Reads them back; a mistyped value is a fluxion::Error starting "training config: ".
ObjectiveConfig objective_config_from_json(const nlohmann::json& train_config);

// The objective `config` names; null_label is the class index dropped labels become (the
// model's num_classes).
std::unique_ptr<Objective> make_objective(const ObjectiveConfig& config, int64_t null_label);

// The objective a checkpoint was trained with, holding the state stored with it; nullptr when
// the file records no training config (converted official weights).
std::unique_ptr<Objective> load_objective(const ModelWeights& weights, int64_t null_label);

}  // namespace fluxion::objectives
