#include "train/dale_sampling.h"

#include "train/dale_prior.h"

namespace fluxion::train {

samplers::MultiplicativeConfig multiplicative_for(const DaleConfig& dale,
                                                  samplers::MultiplicativeConfig base) {
  base.sigma = dale.sigma;
  base.mu = dale.mu;
  base.levels = dale.levels;
  base.horizon = dale.horizon;
  return base;
}

samplers::MultiplicativeResult sample_dale(const samplers::MultiplicativeConfig& sampler,
                                           const DaleConfig& dale, const TrainModelFn& model,
                                           const torch::Tensor& labels, const core::TensorMap& objective_state,
                                           const std::string& prior, const torch::Tensor& z,
                                           at::Generator& gen) {
  auto x_init = sample_dale_prior(objective_state, prior, labels, z);
  auto result = samplers::sample_multiplicative(
      sampler,
      [&](const torch::Tensor& x, const torch::Tensor& t) {
        return dale_hyvarinen_score(model(dale_model_input(x, dale), dale_model_time(t, dale), labels), x, t,
                                    dale);
      },
      x_init, gen);
  // [offset, offset + 1] -> [-1, 1]
  result.x = (result.x - dale.offset) * 2.0 - 1.0;
  return result;
}

}  // namespace fluxion::train
