#include "train/sample_grid.h"

#include "core/image_io.h"
#include "core/rng.h"

namespace fluxion::train {

SampleGrid::SampleGrid(RunSampler& sampler, int64_t images, int64_t num_classes, int64_t null_label, uint64_t seed)
    : sampler_(sampler), seed_(seed) {
  auto gen = core::make_generator(seed, torch::kCPU);
  noise_ =
      core::randn({images, sampler.channels(), sampler.image_size(), sampler.image_size()}, gen).to(sampler.device());
  labels_ = num_classes > 0 ? torch::arange(images, torch::kLong).remainder(num_classes)
                            : torch::full({images}, null_label, torch::kLong);
  labels_ = labels_.to(sampler.device());
}

void SampleGrid::write(const core::TensorMap& weights, const std::string& path) {
  if (!sampler_.can_sample()) return;
  sampler_.load(weights);
  auto gen = core::make_generator(seed_ + 1, sampler_.device());
  const auto images = sampler_.sample(noise_, labels_, gen);
  core::write_png(path, core::make_grid(core::to_uint8(images.cpu())));
}

}  // namespace fluxion::train
