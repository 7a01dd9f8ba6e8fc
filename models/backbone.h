#pragma once
// The interface every generator backbone (SiT, JiT) offers to samplers and trainers:
// forward(x, t, y) -> prediction, its resolved config as JSON (stored in checkpoints), and a
// strict state-dict loader keyed by the official PyTorch parameter names.
#include <torch/torch.h>

#include <memory>
#include <string>

#include "core/safetensors.h"

namespace fluxion::models {

class Backbone : public torch::nn::Module {
 public:
  // x (B, C, H, W), t (B,) in [0, 1] (0 = noise, 1 = data), y (B,) int64 labels with
  // num_classes() meaning "no label" -> (B, C, H, W) prediction.
  virtual torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& y) = 0;

  virtual std::string family() const = 0;       // "SiT", "JiT"
  virtual std::string config_json() const = 0;  // the resolved config, see zoo.h
  virtual int64_t num_classes() const = 0;      // the null label, when has_null_class()
  virtual bool has_null_class() const = 0;      // SiT only with class_dropout_prob > 0
  virtual int64_t in_channels() const = 0;
  virtual int64_t image_size() const = 0;

  // Every parameter and persistent buffer under its official name (frozen pos_embed included).
  core::TensorMap state_dict() const;

  // Copies `tensors` into the model. Names and shapes must match exactly; otherwise throws one
  // fluxion::Error line naming `source` and the first few missing, unexpected and misshapen
  // entries. Dtypes are converted to the model's.
  void load_state(const core::TensorMap& tensors, const std::string& source = "state dict");

  // All parameters, frozen ones included (the convention of the official parameter counts).
  int64_t parameter_count() const;

 protected:
  // Throws fluxion::Error unless x is (B, in_channels(), image_size(), image_size()).
  void check_input_fits(const torch::Tensor& x) const;
};

using BackbonePtr = std::shared_ptr<Backbone>;

}  // namespace fluxion::models
