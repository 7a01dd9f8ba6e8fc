#pragma once
// Flow-matching training objectives (time: t = 0 noise, t = 1 data; x_t = alpha x + sigma noise).
//
//   SiT (transport.py, training_losses): t ~ U[t0, t1], x_t and u_t from the path;
//     velocity: |v_hat - u_t|^2;  noise: w |eps_hat - eps|^2;  score: w |s_hat sigma + eps|^2,
//     w = 1 ("none"), (drift_var / sigma)^2 ("velocity") or drift_var / sigma^2 ("likelihood").
//     [t0, t1] follow SiT's train eps: [0, 1] for velocity on linear/gvp, [1e-3, 1 - 1e-3] for
//     noise/score there, [0, 1 - 1e-5] on VP.
//   JiT (denoiser.py): x-prediction with v-loss on the linear path, t = sigmoid(N(mean, std)),
//     noise ~ N(0, noise_scale^2), v = (x - z)/max(1 - t, t_eps), v_hat likewise from x_hat.
// Losses are means over every element (mean_flat then batch mean), computed in float32.
// A flow model is sampled by the ode and sde samplers (flow_sampling.h).
#include <torch/torch.h>

#include <string>
#include <utility>

#include "objectives/objective.h"
#include "samplers/path.h"
#include "samplers/prediction.h"

namespace fluxion::objectives {

struct FlowConfig {
  std::string path = "linear";            // linear | gvp | vp
  std::string prediction = "velocity";    // velocity | noise | score | x
  std::string loss_weight = "none";       // none | velocity | likelihood (noise/score only)
  std::string time_sampling = "uniform";  // uniform | logit-normal
  double t0 = -1.0;                       // < 0: SiT's default for path and prediction
  double t1 = -1.0;
  double logit_mean = -0.8;  // JiT's P_mean, P_std
  double logit_std = 0.8;
  double noise_scale = 1.0;    // JiT: image_size / 256
  double x_pred_t_eps = 0.05;  // JiT's clamp of 1 - t
  double label_dropout = 0.1;  // labels replaced by the null class, for CFG

  void validate() const;  // throws fluxion::Error naming the bad field
};

// The random draws of one loss evaluation: t (B), the noise shaped like the data (already scaled
// by noise_scale) and the labels after dropout (dropped ones are the null class).
struct FlowDraws {
  torch::Tensor t, noise, labels;
};

class FlowObjective : public Objective {
 public:
  FlowObjective(FlowConfig config, int64_t null_label);

  std::string name() const override { return "flow"; }
  std::string describe() const override;

  using Objective::loss;
  // The training loss for given draws (loss() is loss(model, x, draw(x, y, gen))); the golden
  // training test feeds the official code's draws through this.
  torch::Tensor loss(const ModelFn& model, const torch::Tensor& x, const FlowDraws& draws) const;
  // Objective's halves of loss(): draw() as {t, noise, labels}, and the loss on them.
  LossDraws draws(const torch::Tensor& x, const torch::Tensor& y, at::Generator& gen, int64_t global_batch,
                  int64_t begin) const override;
  torch::Tensor loss_on_draws(const ModelFn& model, const torch::Tensor& x, const LossDraws& draws) const override;
  // t, then the noise, then the label dropout, in that order from `gen`.
  FlowDraws draw(const torch::Tensor& x, const torch::Tensor& y, at::Generator& gen) const;
  // Data parallel: the draws of the whole global batch (in the order above), this slice's rows.
  FlowDraws draw(const torch::Tensor& x, const torch::Tensor& y, at::Generator& gen, int64_t global_batch,
                 int64_t begin) const;

  std::unique_ptr<ObjectiveSampler> sampler(const SamplingRequest& request) const override;

  // The time interval t is drawn from for uniform sampling.
  std::pair<double, double> time_interval() const;
  const FlowConfig& config() const { return config_; }

  // Exposed for tests: the draws loss() makes.
  torch::Tensor sample_t(int64_t batch, const torch::Device& device, at::Generator& gen) const;
  torch::Tensor drop_labels(const torch::Tensor& y, at::Generator& gen) const;

 private:
  enum class LossWeight { none, velocity, likelihood };

  FlowConfig config_;
  int64_t null_label_;
  // config_'s names, parsed once
  samplers::Path path_;
  samplers::PredictionType prediction_;
  LossWeight loss_weight_;
  bool logit_normal_;
};

}  // namespace fluxion::objectives
