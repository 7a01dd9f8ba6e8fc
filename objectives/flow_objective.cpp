#include "objectives/flow_objective.h"

#include <sstream>

#include "core/compat.h"
#include "core/error.h"
#include "objectives/flow_sampling.h"
#include "samplers/time_grid.h"

namespace fluxion::objectives {

namespace {
torch::Tensor mean_flat(const torch::Tensor& x) {
  // (B, ...) -> (B)
  return x.flatten(1).mean(1);
}
}  // namespace

void FlowConfig::validate() const {
  samplers::parse_path_type(path);
  const auto type = samplers::parse_prediction_type(prediction);
  FLUXION_CHECK(loss_weight == "none" || loss_weight == "velocity" || loss_weight == "likelihood",
                "unknown loss weighting '", loss_weight, "' (none, velocity, likelihood)");
  FLUXION_CHECK(time_sampling == "uniform" || time_sampling == "logit-normal", "unknown time sampling '", time_sampling,
                "' (uniform, logit-normal)");
  FLUXION_CHECK(type != samplers::PredictionType::x || samplers::parse_path_type(path) == samplers::PathType::linear,
                "x-prediction with v-loss is defined on the linear path (got path '", path, "')");
  FLUXION_CHECK(noise_scale > 0, "noise scale must be positive, got ", noise_scale);
  FLUXION_CHECK(label_dropout >= 0 && label_dropout <= 1, "label dropout must be in [0, 1], got ", label_dropout);
  FLUXION_CHECK(logit_std > 0, "logit-normal std must be positive, got ", logit_std);
}

FlowObjective::FlowObjective(FlowConfig config, int64_t null_label)
    : config_(std::move(config)), null_label_(null_label) {
  config_.validate();
  path_ = samplers::Path(samplers::parse_path_type(config_.path));
  prediction_ = samplers::parse_prediction_type(config_.prediction);
  loss_weight_ = config_.loss_weight == "velocity"     ? LossWeight::velocity
                 : config_.loss_weight == "likelihood" ? LossWeight::likelihood
                                                       : LossWeight::none;
  logit_normal_ = config_.time_sampling == "logit-normal";
}

std::string FlowObjective::describe() const {
  std::ostringstream out;
  out << "flow matching: " << config_.path << " path, ";
  if (prediction_ == samplers::PredictionType::x) {
    out << "x prediction with v-loss (1 - t clamped at " << config_.x_pred_t_eps << ")";
  } else {
    out << config_.prediction << " prediction";
    if (loss_weight_ != LossWeight::none) out << ", " << config_.loss_weight << " loss weight";
  }
  if (logit_normal_) {
    out << ", logit-normal t (mean " << config_.logit_mean << ", std " << config_.logit_std << ")";
  } else {
    const auto [t0, t1] = time_interval();
    out << ", uniform t on [" << t0 << ", " << t1 << "]";
  }
  if (config_.noise_scale != 1.0) out << ", noise x" << config_.noise_scale;
  out << ", label dropout " << config_.label_dropout;
  return out.str();
}

std::pair<double, double> FlowObjective::time_interval() const {
  double t0 = 0.0, t1 = 1.0;  // JiT's x-prediction: all of [0, 1]
  if (prediction_ != samplers::PredictionType::x) {
    const auto path = path_.type();
    const auto ends = samplers::sit_interval_eps(path, prediction_, samplers::sit_default_eps(path, prediction_).train);
    t0 = ends.start;
    t1 = 1.0 - ends.end;
  }
  if (config_.t0 >= 0) t0 = config_.t0;
  if (config_.t1 >= 0) t1 = config_.t1;
  FLUXION_CHECK(0.0 <= t0 && t0 < t1 && t1 <= 1.0, "time interval [", t0, ", ", t1, "] must satisfy 0 <= t0 < t1 <= 1");
  return {t0, t1};
}

torch::Tensor FlowObjective::sample_t(int64_t batch, const torch::Device& device, at::Generator& gen) const {
  auto options = torch::TensorOptions().dtype(torch::kFloat).device(device);
  if (logit_normal_) return torch::sigmoid(at::randn({batch}, gen, options) * config_.logit_std + config_.logit_mean);
  const auto [t0, t1] = time_interval();
  return at::rand({batch}, gen, options) * (t1 - t0) + t0;
}

torch::Tensor FlowObjective::drop_labels(const torch::Tensor& y, at::Generator& gen) const {
  if (config_.label_dropout <= 0) return y;
  auto drop = at::rand({y.size(0)}, gen, torch::TensorOptions().device(y.device())) < config_.label_dropout;
  return torch::where(drop, torch::full_like(y, null_label_), y);
}

FlowDraws FlowObjective::draw(const torch::Tensor& x, const torch::Tensor& y, at::Generator& gen) const {
  FlowDraws d;
  const auto options = x.options().dtype(torch::kFloat);
  d.t = sample_t(x.size(0), x.device(), gen);
  d.noise = at::randn(x.sizes(), gen, options) * config_.noise_scale;
  d.labels = drop_labels(y, gen);
  return d;
}

FlowDraws FlowObjective::draw(const torch::Tensor& x, const torch::Tensor& y, at::Generator& gen, int64_t global_batch,
                              int64_t begin) const {
  const int64_t rows = x.size(0);
  if (global_batch == rows && begin == 0) return draw(x, y, gen);
  TORCH_CHECK(begin >= 0 && begin + rows <= global_batch, "batch slice [", begin, ", ", begin + rows,
              ") outside the global batch of ", global_batch);
  FlowDraws d;
  const auto options = x.options().dtype(torch::kFloat);
  auto global_shape = x.sizes().vec();
  global_shape[0] = global_batch;
  // (global, ...) -> this slice's rows
  d.t = sample_t(global_batch, x.device(), gen).narrow(0, begin, rows);
  d.noise = (at::randn(global_shape, gen, options) * config_.noise_scale).narrow(0, begin, rows);
  d.labels = y;
  if (config_.label_dropout > 0) {
    auto drop = (at::rand({global_batch}, gen, torch::TensorOptions().device(y.device())) < config_.label_dropout)
                    .narrow(0, begin, rows);
    d.labels = torch::where(drop, torch::full_like(y, null_label_), y);
  }
  return d;
}

LossDraws FlowObjective::draws(const torch::Tensor& x, const torch::Tensor& y, at::Generator& gen, int64_t global_batch,
                               int64_t begin) const {
  auto d = draw(x, y, gen, global_batch, begin);
  return {d.t, d.noise, d.labels};
}

torch::Tensor FlowObjective::loss_on_draws(const ModelFn& model, const torch::Tensor& x, const LossDraws& draws) const {
  TORCH_CHECK(draws.size() == 3, "flow loss: 3 draws expected (t, noise, labels), got ", draws.size());
  return loss(model, x, FlowDraws{draws[0], draws[1], draws[2]});
}

torch::Tensor FlowObjective::loss(const ModelFn& model, const torch::Tensor& x, const FlowDraws& draws) const {
  const auto data = x.to(torch::kFloat);
  const auto& t = draws.t;
  const auto& noise = draws.noise;
  auto x_t = path_.interpolate(t, noise, data);
  auto output = model(x_t, t, draws.labels);
  // Losses in fp32 whatever autocast did inside the model.
  compat::AutocastOffGuard fp32;
  output = output.to(torch::kFloat);
  TORCH_CHECK(output.sizes() == x_t.sizes(), "model output ", output.sizes(), " does not match its input ",
              x_t.sizes());
  using samplers::PredictionType;
  if (prediction_ == PredictionType::velocity)
    return mean_flat((output - path_.target_velocity(t, noise, data)).pow(2)).mean();
  if (prediction_ == PredictionType::x) {
    // (B) -> (B, 1, 1, 1): JiT's clamped 1 - t
    auto denom = samplers::Path::expand_t_like(1.0 - t, x_t).clamp_min(config_.x_pred_t_eps);
    auto v_hat = (output - x_t) / denom;
    auto v = (data - x_t) / denom;
    return mean_flat((v_hat - v).pow(2)).mean();
  }
  auto sigma = samplers::Path::expand_t_like(path_.sigma(t), x_t);
  torch::Tensor weight = torch::ones_like(sigma);
  if (loss_weight_ != LossWeight::none) {
    auto drift_var = path_.compute_drift(x_t, t).var;
    weight = loss_weight_ == LossWeight::velocity ? (drift_var / sigma).pow(2) : drift_var / sigma.pow(2);
  }
  if (prediction_ == PredictionType::noise) return mean_flat(weight * (output - noise).pow(2)).mean();
  return mean_flat(weight * (output * sigma + noise).pow(2)).mean();
}

std::unique_ptr<ObjectiveSampler> FlowObjective::sampler(const SamplingRequest& request) const {
  SamplingRequest completed = request;
  completed.sampler = sampler_for_flow(config_, request.sampler);
  if (request.path_given) completed.sampler.path = request.sampler.path;
  if (request.prediction_given) completed.sampler.prediction = request.sampler.prediction;
  return flow_sampler(completed, null_label_);
}

}  // namespace fluxion::objectives
