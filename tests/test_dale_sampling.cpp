// The model end of Dale-Langevin: objectives::sample_dale (a backbone's raw output -> Hyvarinen
// score -> multiplicative sampler through samplers::sample -> images) driven by the exact optimum
// of a log-normal dataset, and the ObjectiveSampler a Dale objective gives.
#include <catch2/catch.hpp>

#include <cmath>
#include <utility>
#include <vector>

#include "core/rng.h"
#include "objectives/dale_objective.h"
#include "objectives/dale_sampling.h"
#include "samplers/multiplicative.h"
#include "test_helpers.h"

using namespace fluxion;

namespace {
// Per-class data whose log is N(mean[k], std[k]^2) in every pixel. Under GBM the log stays
// Gaussian: log X_t ~ N(mean + b t, std^2 + sigma^2 t), b = mu - sigma^2 / 2, so the M-DSM
// optimum is known in closed form: the marginal's Hyvarinen score h = -1 - (log x - m_t) / v_t.
struct LogNormalClasses {
  std::vector<double> mean, std;
  double m(int64_t k, double t, const objectives::DaleConfig& c) const {
    return mean[k] + (c.mu - 0.5 * c.sigma * c.sigma) * t;
  }
  double v(int64_t k, double t, const objectives::DaleConfig& c) const {
    return std[k] * std[k] + c.sigma * c.sigma * t;
  }
};

// That optimum as a backbone would give it: read x and t back from the backbone's input and time
// (dale_model_input, dale_model_time), answer with eps = -(h + 1) sigma sqrt(t) ("noise") or the
// Stein score h / x ("score"). Level 0 (t = 0) is answered as level 1 (t = T / N): the network is
// trained on levels 1 ... N-1, and the bridge reads a noise output at t = 0 as one at T / N.
objectives::ModelFn exact_model(const LogNormalClasses& data, const objectives::DaleConfig& c) {
  return [data, c](const torch::Tensor& input, const torch::Tensor& time, const torch::Tensor& y) {
    const double low = std::log(c.offset), high = std::log(c.offset + 1.0);
    auto log_x = c.input == "linear" ? torch::log((input + (2.0 * c.offset + 1.0)) * 0.5)
                                     : (input * (high - low) + (low + high)) * 0.5;
    auto t = ((1.0 - time) * c.horizon).clamp_min(c.horizon / static_cast<double>(c.levels)).view({-1, 1, 1, 1});
    auto mean0 = torch::tensor(data.mean).index_select(0, y).view({-1, 1, 1, 1});
    auto var0 = torch::tensor(data.std).pow(2).index_select(0, y).view({-1, 1, 1, 1});
    auto m_t = mean0 + (c.mu - 0.5 * c.sigma * c.sigma) * t;
    auto v_t = var0 + c.sigma * c.sigma * t;
    auto h = -1.0 - (log_x - m_t) / v_t;
    return (c.output == "score" ? h / torch::exp(log_x) : -(h + 1.0) * c.sigma * t.sqrt()).to(torch::kFloat);
  };
}

// Mean and std of log x after DLS (samplers/multiplicative.h) from the exact prior N(m_T, v_T)
// with the exact score of class k. DLS in log space is y <- y + delta sigma^2 h
// - delta (mu - 3 sigma^2 / 2) + sqrt(delta) sigma z; with h linear in y every state is Gaussian,
// so mean and variance follow in closed form, step by step, discretisation error included.
std::pair<double, double> dls_log_moments(const samplers::MultiplicativeConfig& s, const objectives::DaleConfig& c,
                                          const LogNormalClasses& data, int64_t k) {
  const double delta = samplers::step_size(s), s2 = c.sigma * c.sigma;
  double mean = data.m(k, c.horizon, c), var = data.v(k, c.horizon, c);
  for (int64_t level = s.levels - 1; level >= 0; level -= s.level_stride) {
    const double t = std::max(c.horizon * level / s.levels, c.horizon / s.levels);
    const double pull = delta * s2 / data.v(k, t, c);  // -d(delta sigma^2 h)/dy
    mean += delta * (0.5 * s2 - c.mu) - pull * (mean - data.m(k, t, c));
    const bool noisy = s.last_noise || level - s.level_stride >= 0;
    var = (1.0 - pull) * (1.0 - pull) * var + (noisy ? delta * s2 : 0.0);
  }
  return {mean, std::sqrt(var)};
}
}  // namespace

TEST_CASE("the DLS log-moments of the closed form land on the data as the steps shrink", "[unit][dale]") {
  // The closed form above is what the sampler test below compares with; here it meets the
  // continuous answer: 1,000 levels with a noisy last update end near the data's N(mean, std^2).
  objectives::DaleConfig dale;
  dale.mu = 0.5;
  const LogNormalClasses data{{std::log(1.3), std::log(1.7)}, {0.05, 0.08}};
  samplers::SamplerConfig base;
  base.name = "dls";
  base.last_noise = true;
  const auto sampler = samplers::parse_sampler(objectives::sampler_for_dale(dale, base)).multiplicative;
  for (int64_t k = 0; k < 2; ++k) {
    const auto [mean, std] = dls_log_moments(sampler, dale, data, k);
    CHECK(mean == Approx(data.mean[k]).margin(1e-3));
    CHECK(std == Approx(data.std[k]).epsilon(0.02));
  }
}

TEST_CASE("sample_dale with the exact optimum of log-normal data gives DLS's closed-form moments", "[unit][dale]") {
  // Every way the backbone's input and output can be read (DaleConfig::input, ::output), the class
  // prior, and a drift mu != sigma^2 / 2. A wrong convention between the bridge and the sampler
  // (h / x instead of h, a sign) moves the moments by many standard errors.
  const LogNormalClasses data{{std::log(1.3), std::log(1.7)}, {0.05, 0.08}};
  const int64_t per_class = 1000, pixels = 16, n = per_class * pixels;
  for (const std::string input : {"log", "linear"})
    for (const std::string output : {"noise", "score"}) {
      INFO(input << " input, " << output << " output");
      objectives::DaleConfig dale;
      dale.mu = 0.5;
      dale.input = input;
      dale.output = output;
      samplers::SamplerConfig base;
      base.name = "dls";
      base.level_stride = 10;  // 100 updates of delta = 0.01
      const auto sampler = samplers::parse_sampler(objectives::sampler_for_dale(dale, base));
      // The class prior (dale_prior.h): row k holds log X_T's N(m_T, v_T) of class k, row 2 the null label.
      auto prior_mean = torch::empty({3, 1, 4, 4}), prior_std = torch::empty({3, 1, 4, 4});
      for (int64_t row = 0; row < 3; ++row) {
        const int64_t k = row % 2;
        prior_mean[row].fill_(data.m(k, dale.horizon, dale));
        prior_std[row].fill_(std::sqrt(data.v(k, dale.horizon, dale)));
      }
      const core::TensorMap state{{"prior_class_mean", prior_mean}, {"prior_class_std", prior_std}};
      auto gen = core::make_generator(21);
      auto labels = torch::arange(2 * per_class, torch::kLong).remainder(2);
      auto z = at::randn({2 * per_class, 1, 4, 4}, gen);
      const auto result =
          objectives::sample_dale(sampler, dale, exact_model(data, dale), labels, state, "class", z, gen);
      CHECK(result.nfe == samplers::expected_nfe(sampler));
      // [1, 2] -> [-1, 1] after the clamp
      CHECK(test::max_abs_diff(result.x, (result.unclamped.clamp(1.0, 2.0) - 1.0) * 2.0 - 1.0) < 1e-6);
      for (int64_t k = 0; k < 2; ++k) {
        const auto [mean, std] = dls_log_moments(sampler.multiplicative, dale, data, k);
        auto logs = torch::log(result.unclamped.index_select(0, (labels == k).nonzero().flatten())).to(torch::kDouble);
        const double got_mean = logs.mean().item<double>(), got_std = logs.std().item<double>();
        INFO("class " << k << ": log mean " << got_mean << " (closed form " << mean << "), std " << got_std
                      << " (closed form " << std << ")");
        // five standard errors of n Gaussian draws: std / sqrt(n) for the mean, std / sqrt(2 (n - 1)) for the std
        CHECK(std::abs(got_mean - mean) < 5 * std / std::sqrt(double(n)));
        CHECK(std::abs(got_std - std) < 5 * std / std::sqrt(2.0 * (n - 1)));
      }
    }
}
