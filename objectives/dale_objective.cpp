#include "objectives/dale_objective.h"

#include <cmath>
#include <sstream>

#include "core/compat.h"
#include "core/error.h"
#include "core/log.h"
#include "objectives/dale_prior.h"
#include "objectives/dale_sampling.h"

namespace fluxion::objectives {

void DaleConfig::validate() const {
  FLUXION_CHECK(sigma > 0, "--dale-sigma must be positive, got ", sigma);
  FLUXION_CHECK(levels >= 2, "--dale-levels must be at least 2, got ", levels);
  FLUXION_CHECK(horizon > 0, "--dale-horizon must be positive, got ", horizon);
  FLUXION_CHECK(offset > 0, "--dale-offset must be positive (data must stay > 0), got ", offset);
  FLUXION_CHECK(weighting == "noise" || weighting == "sigma2t" || weighting == "unit", "unknown M-DSM weighting '",
                weighting, "' (noise, sigma2t, unit)");
  FLUXION_CHECK(input == "log" || input == "linear", "unknown Dale model input '", input, "' (log, linear)");
  FLUXION_CHECK(output == "noise" || output == "score", "unknown Dale model output '", output, "' (noise, score)");
  FLUXION_CHECK(label_dropout >= 0 && label_dropout <= 1, "label dropout must be in [0, 1], got ", label_dropout);
}

torch::Tensor dale_model_input(const torch::Tensor& x, const DaleConfig& c) {
  if (c.input == "linear") return 2.0 * x - (2.0 * c.offset + 1.0);
  // log x in [log a, log (a + 1)] -> [-1, 1], a = offset
  const double low = std::log(c.offset), high = std::log(c.offset + 1.0);
  return (2.0 * torch::log(x) - (low + high)) / (high - low);
}

torch::Tensor dale_model_time(const torch::Tensor& t, const DaleConfig& c) { return 1.0 - t / c.horizon; }

torch::Tensor dale_hyvarinen_score(const torch::Tensor& raw, const torch::Tensor& x, const torch::Tensor& t,
                                   const DaleConfig& c) {
  auto out = raw.to(torch::kFloat);
  if (c.output == "score") return x * out;
  // (B) -> (B, 1, 1, 1), at least the first trained level T / N
  auto t4 = t.to(torch::kFloat).clamp_min(c.horizon / static_cast<double>(c.levels)).view({-1, 1, 1, 1});
  return -1.0 - out / (c.sigma * t4.sqrt());
}

DaleObjective::DaleObjective(DaleConfig config, int64_t null_label)
    : config_(std::move(config)), null_label_(null_label) {
  config_.validate();
}

std::string DaleObjective::describe() const {
  const auto& c = config_;
  std::ostringstream out;
  out << "Dale-Langevin M-DSM: sigma " << c.sigma << ", mu " << c.mu << ", " << c.levels
      << " levels to T = " << c.horizon << ", data in [" << c.offset << ", " << c.offset + 1.0 << "], " << c.input
      << " input, " << c.output << " output, " << c.weighting << " weighting, label dropout " << c.label_dropout;
  return out.str();
}

LossDraws DaleObjective::draws(const torch::Tensor& x, const torch::Tensor& y, at::Generator& gen, int64_t global_batch,
                               int64_t begin) const {
  const auto& c = config_;
  const int64_t batch = x.size(0);
  TORCH_CHECK(begin >= 0 && begin + batch <= global_batch, "batch slice [", begin, ", ", begin + batch,
              ") outside the global batch of ", global_batch);
  const auto options = x.options().dtype(torch::kFloat);
  auto global_shape = x.sizes().vec();
  global_shape[0] = global_batch;
  // The global batch's draws, this slice's rows: (global, ...) -> (batch, ...)
  auto idx = at::randint(1, c.levels, {global_batch}, gen, options.dtype(torch::kLong)).narrow(0, begin, batch);
  auto t = idx.to(torch::kFloat) * (c.horizon / static_cast<double>(c.levels));
  auto z = at::randn(global_shape, gen, options).narrow(0, begin, batch);
  auto labels = y;
  if (c.label_dropout > 0) {
    auto drop = (at::rand({global_batch}, gen, options) < c.label_dropout).narrow(0, begin, batch);
    labels = torch::where(drop, torch::full_like(y, null_label_), y);
  }
  return {t, z, labels};
}

torch::Tensor DaleObjective::loss_on_draws(const ModelFn& model, const torch::Tensor& x, const LossDraws& draws) const {
  TORCH_CHECK(draws.size() == 3, "Dale loss: 3 draws expected (t, z, labels), got ", draws.size());
  const auto& c = config_;
  const auto &t = draws[0], &z = draws[1], &labels = draws[2];
  auto x0 = (x.to(torch::kFloat) + 1.0) * 0.5 + c.offset;
  auto t4 = t.view({x0.size(0), 1, 1, 1});
  auto x_t = x0 * torch::exp((c.mu - 0.5 * c.sigma * c.sigma) * t4 + c.sigma * t4.sqrt() * z);
  auto raw = model(dale_model_input(x_t, c), dale_model_time(t, c), labels);
  compat::AutocastOffGuard fp32;
  const auto sigma_sqrt_t = c.sigma * t4.sqrt();
  torch::Tensor residual;
  if (c.output == "noise" && c.weighting == "noise") {
    residual = z - raw.to(torch::kFloat);  // the same as below, without dividing and multiplying back
  } else {
    auto h = dale_hyvarinen_score(raw, x_t, t, c);
    residual = h + 1.0 + z / sigma_sqrt_t;
    if (c.weighting == "noise") residual = sigma_sqrt_t * residual;
    if (c.weighting == "sigma2t") residual = sigma_sqrt_t.pow(2) * residual;
  }
  return residual.pow(2).flatten(1).mean(1).mean();
}

void DaleObjective::fit_state(const core::Dataset& data, int data_threads) {
  priors_ = fit_dale_priors(data, data_threads, null_label_, config_);
  core::log_info("dale prior: log-normal mean " + std::to_string(priors_.at("prior_mean")[0].item<double>()) +
                 ", std " + std::to_string(priors_.at("prior_std")[0].item<double>()) +
                 " (channel 0), and per class and pixel");
}

std::unique_ptr<ObjectiveSampler> DaleObjective::sampler(const SamplingRequest& request) const {
  return dale_sampler(request, config_, priors_);
}

samplers::SamplerConfig DaleObjective::preview_sampler(samplers::SamplerConfig grid) const {
  grid.name = "dls";
  return grid;
}

}  // namespace fluxion::objectives
