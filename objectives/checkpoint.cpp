#include "objectives/checkpoint.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace fluxion::objectives {

namespace {
bool starts_with(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

// trainer.step and trainer.data_position: one non-negative I64 each, as save_checkpoint writes
// them (item<int64_t>() of anything else throws torch's errors, or overflows).
int64_t trainer_counter(const torch::Tensor& t, const std::string& path, const std::string& name) {
  FLUXION_CHECK(t.scalar_type() == torch::kLong && t.numel() == 1, path, ": '", name, "' must be one I64 value, got ",
                t.scalar_type(), " of shape ", t.sizes());
  const int64_t value = t.item<int64_t>();
  FLUXION_CHECK(value >= 0, path, ": '", name, "' is negative (", value, ")");
  return value;
}
}  // namespace

std::string ema_prefix(size_t index) { return index == 0 ? std::string("ema") : "ema" + std::to_string(index); }

void save_checkpoint(const std::string& path, const Checkpoint& c) {
  core::TensorMap tensors = c.model;
  for (size_t i = 0; i < c.emas.size(); ++i)
    for (const auto& [name, t] : c.emas[i]) tensors[ema_prefix(i) + "." + name] = t;
  for (const auto& [name, t] : c.optimizer) tensors["optim." + name] = t;
  for (const auto& [name, t] : c.objective) tensors["objective." + name] = t;
  tensors["trainer.step"] = torch::tensor(c.step, torch::kLong);
  tensors["trainer.data_position"] = torch::tensor(c.data_position, torch::kLong);
  core::Metadata metadata{{"format", kCheckpointFormat},
                          {"model_config", c.model_config},
                          {"train_config", c.train_config},
                          {"ema_decays", nlohmann::json(c.ema_decays).dump()},
                          {"step", std::to_string(c.step)}};
  core::save_safetensors(path, tensors, metadata);
}

Checkpoint load_checkpoint(const std::string& path) {
  core::Metadata metadata;
  auto tensors = core::load_safetensors(path, &metadata);
  FLUXION_CHECK(metadata.count("format") && metadata["format"] == kCheckpointFormat, path,
                ": not a fluxion training checkpoint (no format '", kCheckpointFormat,
                "' in its metadata); official weights can be sampled but not resumed");
  Checkpoint c;
  c.model_config = metadata["model_config"];
  c.train_config = metadata["train_config"];
  try {
    c.ema_decays = nlohmann::json::parse(metadata["ema_decays"]).get<std::vector<double>>();
  } catch (const std::exception& e) {
    fail(path, ": bad ema_decays metadata: ", e.what());
  }
  c.emas.resize(c.ema_decays.size());
  for (auto& [name, t] : tensors) {
    if (starts_with(name, "optim.")) {
      c.optimizer[name.substr(6)] = t;
    } else if (starts_with(name, "objective.")) {
      c.objective[name.substr(10)] = t;
    } else if (name == "trainer.step") {
      c.step = trainer_counter(t, path, name);
    } else if (name == "trainer.data_position") {
      c.data_position = trainer_counter(t, path, name);
    } else {
      bool is_ema = false;
      for (size_t i = 0; i < c.emas.size() && !is_ema; ++i) {
        const std::string prefix = ema_prefix(i) + ".";
        if (starts_with(name, prefix)) {
          c.emas[i][name.substr(prefix.size())] = t;
          is_ema = true;
        }
      }
      if (!is_ema) c.model[name] = t;
    }
  }
  return c;
}

ModelWeights load_model_weights(const std::string& path, const std::string& which) {
  const auto header = core::read_safetensors_header(path);
  ModelWeights out;
  const auto& md = header.metadata;
  if (md.count("model_config")) out.model_config = md.at("model_config");
  if (md.count("train_config")) out.train_config = md.at("train_config");
  const bool is_checkpoint = md.count("format") && md.at("format") == kCheckpointFormat;
  std::string prefix;
  if (which == "model" || !is_checkpoint) {
    FLUXION_CHECK(which == "model" || which == "ema", path, ": has no EMA weights '", which, "'");
    out.which = "model";
  } else {
    FLUXION_CHECK(which == "ema" || (starts_with(which, "ema") && which.size() > 3), "unknown weights '", which,
                  "' (ema, ema1, ..., model)");
    prefix = which + ".";
    out.which = which;
    const bool present = std::any_of(header.entries.begin(), header.entries.end(),
                                     [&](const auto& e) { return starts_with(e.name, prefix); });
    FLUXION_CHECK(present, path, ": has no weights with prefix '", prefix, "'");
  }
  if (is_checkpoint) out.objective = core::load_safetensors_prefixed(path, "objective.");
  auto all = core::load_safetensors_prefixed(path, prefix);
  for (auto& [name, t] : all) {
    if (prefix.empty() &&
        (starts_with(name, "ema") || starts_with(name, "optim.") || starts_with(name, "trainer.") ||
         starts_with(name, "objective.")) &&
        is_checkpoint)
      continue;
    out.weights[name] = t;
  }
  return out;
}

}  // namespace fluxion::objectives
