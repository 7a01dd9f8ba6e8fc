#pragma once
// The golden backbones under ../shared/golden/ (see its README): each file holds the official
// model's weights under "model.", fixed inputs under "input.", the official outputs under
// "output." and the model config as JSON (without the family name) in the metadata.
#include <optional>
#include <string>

#include "core/safetensors.h"
#include "models/backbone.h"

namespace fluxion::test {

struct GoldenModel {
  std::string path;
  core::TensorMap tensors;    // the whole file, by full name ("input.x", "output.forward", ...)
  models::BackbonePtr model;  // built from the file's config, with its weights, in eval mode, on CPU
};

// Loads golden `file` as a `family` ("SiT", "JiT") backbone. When the shared folder is absent it
// warns and returns nothing: the caller skips.
std::optional<GoldenModel> load_golden_model(const std::string& file, const std::string& family);

}  // namespace fluxion::test
