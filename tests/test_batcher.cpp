#include <catch2/catch.hpp>

#include <set>

#include "core/dataset.h"
#include "core/dataset_sources.h"
#include "core/error.h"

using namespace fluxion;

namespace {
// Item i is a 1x2x2 image filled with i and labelled i, so batches reveal their indices.
std::shared_ptr<core::Dataset> numbered(int64_t n) {
  auto ids = torch::arange(n, torch::kLong);
  auto images = ids.to(torch::kByte).view({n, 1, 1, 1}).expand({n, 1, 2, 2}).contiguous();
  return core::make_tensor_dataset(images, ids, "numbered", 256);
}

std::vector<int64_t> ids_of(const core::Batcher::Batch& batch) {
  auto labels = batch.labels.contiguous();
  return std::vector<int64_t>(labels.data_ptr<int64_t>(), labels.data_ptr<int64_t>() + labels.numel());
}

std::vector<std::vector<int64_t>> take(core::Batcher& batcher, int batches) {
  std::vector<std::vector<int64_t>> out;
  for (int i = 0; i < batches; ++i) out.push_back(ids_of(batcher.next()));
  return out;
}

// A dataset whose item 5 cannot be decoded.
class Faulty final : public core::Dataset {
 public:
  int64_t size() const override { return 12; }
  core::Example get(int64_t index) const override {
    if (index == 5) fail("faulty item 5");
    return {torch::zeros({1, 2, 2}, torch::kByte), index};
  }
  int64_t num_classes() const override { return 0; }
  int channels() const override { return 1; }
  int height() const override { return 2; }
  int width() const override { return 2; }
  std::string describe() const override { return "faulty"; }
};
}  // namespace

TEST_CASE("batches are float [-1, 1] images with matching labels", "[unit][batcher]") {
  core::Batcher batcher(numbered(256), 256, 3, /*shuffle=*/false);
  const auto batch = batcher.next();
  REQUIRE(batch.images.sizes() == torch::IntArrayRef({256, 1, 2, 2}));
  CHECK(batch.images.scalar_type() == torch::kFloat);
  CHECK(batch.labels.scalar_type() == torch::kLong);
  CHECK(batch.images[0].min().item<float>() == -1.0f);
  CHECK(batch.images[255].max().item<float>() == 1.0f);
  const auto expected = torch::arange(256, torch::kFloat).div(127.5).sub(1.0).view({256, 1, 1, 1});
  CHECK(torch::allclose(batch.images, expected.expand({256, 1, 2, 2}), 0, 1e-6));
  CHECK(torch::equal(batch.labels, torch::arange(256, torch::kLong)));
}

TEST_CASE("seeded order is reproducible and each epoch a permutation", "[unit][batcher]") {
  core::Batcher a(numbered(20), 5, 42), b(numbered(20), 5, 42), c(numbered(20), 5, 43);
  const auto seq_a = take(a, 8), seq_b = take(b, 8), seq_c = take(c, 8);
  CHECK(seq_a == seq_b);
  CHECK(seq_a != seq_c);
  for (int epoch = 0; epoch < 2; ++epoch) {
    std::set<int64_t> seen;
    for (int i = 0; i < 4; ++i) seen.insert(seq_a[epoch * 4 + i].begin(), seq_a[epoch * 4 + i].end());
    CHECK(seen.size() == 20);
  }
  // Epochs are shuffled differently, and not left in dataset order.
  CHECK(std::vector<std::vector<int64_t>>(seq_a.begin(), seq_a.begin() + 4) !=
        std::vector<std::vector<int64_t>>(seq_a.begin() + 4, seq_a.end()));
  CHECK(seq_a[0] != std::vector<int64_t>({0, 1, 2, 3, 4}));
  CHECK(a.position() == 40);
  CHECK(a.epoch() == 2);
}

TEST_CASE("epoch boundaries with and without drop_last", "[unit][batcher]") {
  SECTION("drop_last skips the remainder") {
    core::Batcher batcher(numbered(10), 4, 7, true, /*drop_last=*/true);
    CHECK(batcher.batches_per_epoch() == 2);
    const auto first = take(batcher, 2);
    CHECK(batcher.position() == 8);
    CHECK(batcher.epoch() == 1);
    std::set<int64_t> seen(first[0].begin(), first[0].end());
    seen.insert(first[1].begin(), first[1].end());
    CHECK(seen.size() == 8);
    CHECK(batcher.next().images.size(0) == 4);  // a full batch of epoch 1
  }
  SECTION("without drop_last the last batch is short and epochs never mix") {
    core::Batcher batcher(numbered(10), 4, 7, true, /*drop_last=*/false);
    CHECK(batcher.batches_per_epoch() == 3);
    const auto epoch0 = take(batcher, 3);
    CHECK(epoch0[0].size() == 4);
    CHECK(epoch0[2].size() == 2);
    std::set<int64_t> seen;
    for (const auto& ids : epoch0) seen.insert(ids.begin(), ids.end());
    CHECK(seen.size() == 10);
    CHECK(batcher.position() == 10);
    CHECK(batcher.epoch() == 1);
    CHECK(batcher.next().images.size(0) == 4);
  }
  SECTION("unshuffled order is the dataset order") {
    core::Batcher batcher(numbered(6), 4, 7, /*shuffle=*/false, /*drop_last=*/false);
    CHECK(take(batcher, 3) == std::vector<std::vector<int64_t>>{{0, 1, 2, 3}, {4, 5}, {0, 1, 2, 3}});
  }
  CHECK_THROWS_AS(core::Batcher(numbered(3), 4, 0, true, true), Error);
  CHECK_THROWS_AS(core::Batcher(numbered(3), 0, 0), Error);
}

TEST_CASE("set_position resumes exactly the same sequence", "[unit][batcher]") {
  for (bool drop_last : {true, false}) {
    INFO("drop_last " << drop_last);
    core::Batcher reference(numbered(23), 5, 9, true, drop_last);
    const auto full = take(reference, 12);  // several epochs
    core::Batcher first_half(numbered(23), 5, 9, true, drop_last);
    take(first_half, 7);
    const int64_t checkpoint = first_half.position();

    core::Batcher resumed(numbered(23), 5, 9, true, drop_last);
    resumed.set_position(checkpoint);
    CHECK(resumed.position() == checkpoint);
    const auto rest = take(resumed, 5);
    CHECK(rest == std::vector<std::vector<int64_t>>(full.begin() + 7, full.end()));
    CHECK(resumed.position() == reference.position());
  }
  // A position inside a batch continues from that example.
  core::Batcher reference(numbered(16), 4, 1);
  const auto order = take(reference, 4);
  core::Batcher shifted(numbered(16), 4, 1);
  shifted.set_position(2);
  const auto ids = ids_of(shifted.next());
  CHECK(ids == std::vector<int64_t>{order[0][2], order[0][3], order[1][0], order[1][1]});
}

TEST_CASE("multi-threaded decoding equals single-threaded", "[unit][batcher]") {
  auto base = core::make_tensor_dataset(torch::randint(0, 256, {37, 1, 9, 7}, torch::kLong).to(torch::kByte),
                                        torch::arange(37, torch::kLong).remainder(5), "random");
  core::ImageTransform transform;
  transform.resize = 12;
  transform.center_crop = 12;
  transform.channels = 3;
  auto dataset = core::transform_dataset(base, transform);
  std::vector<int64_t> indices = {36, 0, 5, 5, 17, 2, 30, 11, 8, 1, 29};
  torch::Tensor labels_one, labels_many;
  const auto one = core::load_images(*dataset, indices, 1, &labels_one);
  const auto many = core::load_images(*dataset, indices, 4, &labels_many);
  CHECK(one.sizes() == torch::IntArrayRef({11, 3, 12, 12}));
  CHECK(torch::equal(one, many));
  CHECK(torch::equal(labels_one, labels_many));
  CHECK(labels_one[0].item<int64_t>() == 1);

  core::Batcher serial(dataset, 8, 5, true, true, 1), parallel(dataset, 8, 5, true, true, 3);
  for (int i = 0; i < 6; ++i) {
    const auto a = serial.next(), b = parallel.next();
    CHECK(torch::equal(a.images, b.images));
    CHECK(torch::equal(a.labels, b.labels));
  }
}

TEST_CASE("a decoding error in a worker thread reaches the caller", "[unit][batcher]") {
  Faulty faulty;
  CHECK_THROWS_WITH(core::load_images(faulty, {1, 2, 3, 4, 5, 6}, 3), Catch::Contains("faulty item 5"));
  CHECK_NOTHROW(core::load_images(faulty, {1, 2, 3, 4, 6}, 3));
}

TEST_CASE("shards of a batch partition the global batch", "[unit][batcher]") {
  for (bool drop_last : {true, false}) {
    INFO("drop_last " << drop_last);
    core::Batcher global(numbered(22), 6, 4, true, drop_last);
    core::Batcher rank0(numbered(22), 6, 4, true, drop_last), rank1(numbered(22), 6, 4, true, drop_last);
    rank0.set_shard(0, 2);
    rank1.set_shard(1, 2);
    for (int i = 0; i < 9; ++i) {
      auto ids = ids_of(rank0.next());
      CHECK(ids.size() == (drop_last || i % 4 != 3 ? 3u : 2u));
      const auto second = ids_of(rank1.next());
      ids.insert(ids.end(), second.begin(), second.end());
      CHECK(ids == ids_of(global.next()));
      CHECK(rank0.position() == global.position());
      CHECK(rank1.position() == global.position());
    }
  }
  core::Batcher batcher(numbered(22), 6, 4);
  CHECK_THROWS_AS(batcher.set_shard(0, 4), Error);
  CHECK_THROWS_AS(batcher.set_shard(2, 2), Error);
}
