#include "samplers/multiplicative.h"

#include <cmath>
#include <sstream>

#include "core/error.h"

namespace fluxion::samplers {

std::string to_string(MultiplicativeRule rule) { return rule == MultiplicativeRule::ums ? "ums" : "dls"; }

void validate(const MultiplicativeConfig& c) {
  FLUXION_CHECK(c.sigma > 0, "sigma must be positive, got ", c.sigma);
  FLUXION_CHECK(c.levels >= 2, "levels N must be at least 2, got ", c.levels);
  FLUXION_CHECK(c.horizon > 0, "horizon T must be positive, got ", c.horizon);
  FLUXION_CHECK(c.delta >= 0, "delta must be >= 0 (0: T / N), got ", c.delta);
  FLUXION_CHECK(c.repeats >= 1, "repeats per level must be >= 1, got ", c.repeats);
  FLUXION_CHECK(c.anneal > 0 && c.anneal <= 1, "anneal must be in (0, 1], got ", c.anneal);
  FLUXION_CHECK(c.final_steps >= 0, "final noise-free steps must be >= 0, got ", c.final_steps);
  FLUXION_CHECK(c.level_stride >= 1, "level stride must be >= 1, got ", c.level_stride);
}

double step_size(const MultiplicativeConfig& c) {
  return c.delta > 0 ? c.delta : c.horizon * static_cast<double>(c.level_stride) / static_cast<double>(c.levels);
}

int64_t expected_nfe(const MultiplicativeConfig& c) {
  const int64_t visited = (c.levels - 1) / c.level_stride + 1;  // k = N-1 down to >= 0
  return visited * c.repeats + c.final_steps;
}

std::string describe(const MultiplicativeConfig& c) {
  std::ostringstream out;
  out << to_string(c.rule) << ", " << c.levels << " levels";
  if (c.level_stride > 1) out << " every " << c.level_stride;
  out << " x " << c.repeats << ", delta " << step_size(c) << ", anneal " << c.anneal
      << (c.last_noise ? ", noisy last update" : "") << ", " << c.final_steps << " final steps, " << expected_nfe(c)
      << " NFE";
  return out.str();
}

torch::Tensor sample_log_normal_prior(const torch::Tensor& mean, const torch::Tensor& std, at::IntArrayRef shape,
                                      at::Generator& gen) {
  FLUXION_CHECK(shape.size() >= 2 && mean.numel() == shape[1] && std.numel() == shape[1], "log-normal prior has ",
                mean.numel(), " channels, samples have shape ", shape);
  auto z = at::randn(shape, gen, mean.options().dtype(torch::kFloat));
  std::vector<int64_t> per_channel(shape.size(), 1);
  per_channel[1] = shape[1];
  // (C) -> (1, C, 1, 1)
  return torch::exp(mean.to(z.options()).view(per_channel) + std.to(z.options()).view(per_channel) * z);
}

MultiplicativeResult sample_multiplicative(const MultiplicativeConfig& c, const Field& score,
                                           const torch::Tensor& x_init, at::Generator& gen) {
  validate(c);
  torch::NoGradGuard no_grad;
  const double delta = step_size(c);
  const double s2 = c.sigma * c.sigma;
  const double noise_scale = std::sqrt(delta) * c.sigma;
  MultiplicativeResult result;
  auto x = x_init.to(torch::kFloat).clone();
  FLUXION_CHECK((x > 0).all().item<bool>(), "multiplicative samplers start from positive values");
  double a = 1.0;
  auto update = [&](double t, bool noisy, bool exponentiated) {
    auto h = score(x, torch::full({x.size(0)}, t, x.options())).to(torch::kFloat);
    ++result.nfe;
    auto z = noisy ? at::randn(x.sizes(), gen, x.options()) * (noise_scale * a) : torch::zeros_like(x);
    if (exponentiated) {
      x = x * torch::exp(delta * s2 * h - delta * (c.mu - 1.5 * s2) + z);
    } else {
      x = x * (1.0 + 2.0 * delta * s2 - delta * c.mu + delta * s2 * h + z);
    }
    if (noisy) a *= c.anneal;
  };
  for (int64_t k = c.levels - 1; k >= 0; k -= c.level_stride) {
    const double t = c.horizon * static_cast<double>(k) / static_cast<double>(c.levels);
    const bool last_level = k - c.level_stride < 0;
    for (int64_t r = 0; r < c.repeats; ++r)
      update(t, c.last_noise || !last_level || r + 1 < c.repeats, c.rule == MultiplicativeRule::dls);
  }
  for (int64_t i = 0; i < c.final_steps; ++i) update(0.0, false, true);
  // Once a value leaves (0, inf) the log-space model turns the whole image into NaN.
  const auto lost = (x <= 0).logical_or(torch::isfinite(x).logical_not());
  result.nonpositive = lost.sum().item<int64_t>();
  result.lost_images = lost.flatten(1).any(1).sum().item<int64_t>();
  result.raw = x;
  result.x = torch::nan_to_num(x, 1.0, 2.0, 1.0).clamp(1.0, 2.0);
  return result;
}

}  // namespace fluxion::samplers
