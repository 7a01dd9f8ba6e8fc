#include "train/training_data.h"

#include "core/batch_order.h"
#include "core/error.h"
#include "core/rng.h"
#include "train/latent_moments.h"

namespace fluxion::train {

namespace {

constexpr const char* kLatentPrefix = "latents:";
constexpr uint64_t kLatentNoiseStream = 11;  // derive_seed(seed ^ stream, position): per batch

class ImageData final : public TrainingData {
 public:
  ImageData(std::shared_ptr<core::Dataset> dataset, int64_t batch, uint64_t seed, int threads)
      : dataset_(std::move(dataset)), batcher_(dataset_, batch, seed, /*shuffle=*/true, /*drop_last=*/true, threads) {}
  std::string describe() const override { return dataset_->describe(); }
  int64_t channels() const override { return dataset_->channels(); }
  int64_t side() const override { return dataset_->height(); }
  int64_t num_classes() const override { return dataset_->num_classes(); }
  Batch next() override {
    auto batch = batcher_.next();
    return {batch.images, batch.labels};
  }
  int64_t position() const override { return batcher_.position(); }
  void set_position(int64_t position) override { batcher_.set_position(position); }
  void set_shard(int rank, int world_size) override { batcher_.set_shard(rank, world_size); }
  const core::Dataset* images() const override { return dataset_.get(); }

 private:
  std::shared_ptr<core::Dataset> dataset_;
  core::Batcher batcher_;
};

class LatentData final : public TrainingData {
 public:
  LatentData(LatentMoments moments, int64_t batch, uint64_t seed)
      : latents_(std::move(moments)),
        order_(latents_.size(), batch, seed, /*shuffle=*/true, /*drop_last=*/true, latents_.describe()),
        seed_(seed) {}
  std::string describe() const override { return latents_.describe(); }
  int64_t channels() const override { return latents_.latent_channels(); }
  int64_t side() const override { return latents_.side(); }
  int64_t num_classes() const override { return latents_.num_classes; }
  Batch next() override {
    // The noise of the whole global batch comes from the batch's position, so a resumed run and
    // any number of ranks draw the same latents; this rank keeps its rows.
    const int64_t start = order_.position();
    const auto indices = order_.next();
    const int64_t global = order_.position() - start;
    const int64_t first = global * rank_ / world_size_;
    auto gen =
        core::make_generator(core::derive_seed(seed_ ^ kLatentNoiseStream, static_cast<uint64_t>(start)), torch::kCPU);
    const auto& m = latents_.moments;
    auto eps = core::randn({global, latents_.latent_channels(), m.size(2), m.size(3)}, gen)
                   .narrow(0, first, static_cast<int64_t>(indices.size()));
    auto rows = torch::tensor(indices, torch::kLong);
    return {draw_latents(m.index_select(0, rows), eps, latents_.vae), latents_.labels.index_select(0, rows)};
  }
  int64_t position() const override { return order_.position(); }
  void set_position(int64_t position) override { order_.set_position(position); }
  void set_shard(int rank, int world_size) override {
    order_.set_shard(rank, world_size);
    rank_ = rank;
    world_size_ = world_size;
  }
  const models::VaeConfig* latent_vae() const override { return &latents_.vae; }

 private:
  LatentMoments latents_;
  core::BatchOrder order_;
  uint64_t seed_;
  int rank_ = 0, world_size_ = 1;
};

std::shared_ptr<core::Dataset> open_images(const TrainConfig& config) {
  auto raw = core::open_dataset(config.data);
  core::ImageTransform transform;
  const int size = static_cast<int>(config.image_size);
  if (raw->height() == size && raw->width() == size) return raw;
  if (raw->height() <= size && raw->width() <= size) {
    transform.pad_to = size;  // Fashion-MNIST 28 -> 32, as is customary for patch sizes 2/4/8
  } else if (config.crop == "adm") {
    transform.adm_crop = size;
  } else {
    transform.resize = size;
    transform.center_crop = size;
  }
  return core::open_dataset(config.data, transform);
}
}  // namespace

std::unique_ptr<TrainingData> open_training_data(const TrainConfig& config, int64_t batch, uint64_t seed) {
  if (config.data.rfind(kLatentPrefix, 0) != 0) {
    FLUXION_CHECK(config.vae.empty(), "--vae decodes latent data's grids; ", config.data,
                  " holds images (train on latents:PATH written by `fluxion encode`)");
    return std::make_unique<ImageData>(open_images(config), batch, seed, static_cast<int>(config.data_threads));
  }
  auto moments = load_latent_moments(config.data.substr(std::string(kLatentPrefix).size()));
  // --image-size names either the latent side or the decoded images' side (SiT: 256 -> 32).
  const int64_t side = moments.side(), image_side = side * moments.vae.downsampling_factor();
  FLUXION_CHECK(config.image_size == side || config.image_size == image_side, "--image-size ", config.image_size,
                " does not match the latents of ", config.data, " (", side, "x", side, ", images of ", image_side, "x",
                image_side, ")");
  return std::make_unique<LatentData>(std::move(moments), batch, seed);
}

}  // namespace fluxion::train
