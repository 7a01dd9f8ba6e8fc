#pragma once
// An objective: what a model is trained to predict and, because of that, how it is sampled.
// SiT's transport/ is the model: its Transport holds the training loss and the time interval,
// and Sampler(transport) gives the sample function that matches it. Here one interface covers
//   loss()       the training loss on a batch, or on one rank's slice of a global batch: draws()
//                makes every random draw, loss_on_draws() the rest (a CUDA-graphed training step,
//                train/graphed_step.h, replays the second on new draws),
//   state()      the tensors stored with every checkpoint as objective.<name> (Dale: its prior),
//   sampler()    how to sample a model trained with it: the caller's sampler settings completed
//                with what training fixed, parsed once, refused when of the wrong family,
//   describe()   one line for the log.
// Implementations: FlowObjective (flow_objective.h), DaleObjective (dale_objective.h);
// make_objective (objective_config.h) builds one from the training config. The trainer,
// `fluxion sample` and training stages to come (DRL finetuning, issue 11: a reward-driven stage
// that asks for the loss and a sampler of the model it finetunes) see only this interface.
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "core/dataset.h"
#include "core/safetensors.h"
#include "samplers/model_fn.h"
#include "samplers/sampler.h"

namespace fluxion::objectives {

using samplers::ModelFn;

// The random draws of one loss evaluation, in an order each objective defines (flows: t, noise,
// labels; Dale: t, z, labels).
using LossDraws = std::vector<torch::Tensor>;

// What a caller asks of sampling; the objective fills in what training fixed.
struct SamplingRequest {
  samplers::SamplerConfig sampler;  // the caller's settings; null_label comes from the objective
  bool path_given = false;          // flows: the caller's path / prediction win over the trained
  bool prediction_given = false;
  std::string prior = "auto";        // Dale's starting distribution: auto | class | channel
  std::string source = "the model";  // what holds the model, for error messages (a file name)
};

// Sampling a model trained with one objective: settings parsed once, then batch after batch.
class ObjectiveSampler {
 public:
  virtual ~ObjectiveSampler() = default;

  // "heun, 25 steps, 50 NFE", "dls, 1000 levels x 1, ..., class prior".
  virtual std::string describe() const = 0;

  // Images in [-1, 1] (B, C, H, W) from standard normal draws z (B, C, H, W) and labels (B);
  // `model` is the network (x, t, y) -> raw output exactly as the objective's loss() called it.
  // Stochastic samplers draw from `gen`. nfe and lost_images say what the batch cost and lost.
  virtual samplers::SampleResult sample(const ModelFn& model, const torch::Tensor& labels, const torch::Tensor& z,
                                        at::Generator& gen) const = 0;

  // DRL finetuning (issue 11) samples its policy's trajectories itself (train/drl_rollout.h):
  // the Flow-GRPO step needs each stochastic step's state and Gaussian log-probability, which
  // only the flow objective's linear path has in closed form; Dale checkpoints are refused there.
};

class Objective {
 public:
  virtual ~Objective() = default;

  // "flow" | "dale": the --objective value that builds it.
  virtual std::string name() const = 0;
  // One line: "flow matching: linear path, velocity prediction, ...".
  virtual std::string describe() const = 0;

  // The training loss on clean images x (B, C, H, W) in [-1, 1] with labels y (B); every random
  // draw (times, noise, label dropout) from `gen`. A float32 scalar, computed outside autocast.
  // Data parallel: x and y are rows [begin, begin + B) of a global batch of `global_batch` rows;
  // the draws of the whole global batch are made and this slice's rows kept, so that N ranks draw
  // exactly what one process with the global batch draws.
  torch::Tensor loss(const ModelFn& model, const torch::Tensor& x, const torch::Tensor& y, at::Generator& gen,
                     int64_t global_batch, int64_t begin) const {
    return loss_on_draws(model, x, draws(x, y, gen, global_batch, begin));
  }
  // The whole batch.
  torch::Tensor loss(const ModelFn& model, const torch::Tensor& x, const torch::Tensor& y, at::Generator& gen) const {
    return loss(model, x, y, gen, x.size(0), 0);
  }
  // The two halves of loss(): every random draw of the batch (tensors on x's device, the labels
  // after dropout among them), then the loss on those draws, which draws nothing.
  virtual LossDraws draws(const torch::Tensor& x, const torch::Tensor& y, at::Generator& gen, int64_t global_batch,
                          int64_t begin) const = 0;
  virtual torch::Tensor loss_on_draws(const ModelFn& model, const torch::Tensor& x, const LossDraws& draws) const = 0;

  // The state sampling needs, stored in checkpoints as objective.<name>: fitted on the training
  // data when a run starts, loaded back when it resumes or is sampled. Empty for flows.
  virtual void fit_state(const core::Dataset& /*data*/, int /*data_threads*/) {}
  virtual void load_state(const core::TensorMap& /*state*/) {}
  virtual core::TensorMap state() const { return {}; }

  // A sampler for a model trained with this objective (and holding this state). Throws a
  // one-line fluxion::Error for a sampler of the wrong family or a bad setting.
  virtual std::unique_ptr<ObjectiveSampler> sampler(const SamplingRequest& request) const = 0;
  // The sampler settings of the trainer's progress grids, from the run's grid settings (name,
  // steps, cfg, level_stride); an objective whose family the name does not fit picks its own.
  virtual samplers::SamplerConfig preview_sampler(samplers::SamplerConfig grid) const { return grid; }
};

}  // namespace fluxion::objectives
