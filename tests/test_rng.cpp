#include <catch2/catch.hpp>

#include <set>

#include "core/error.h"
#include "core/rng.h"
#include "test_helpers.h"

using namespace fluxion;

TEST_CASE("generators with the same seed draw the same numbers", "[unit][rng]") {
  auto a = core::make_generator(1234);
  auto b = core::make_generator(1234);
  auto c = core::make_generator(1235);
  const auto xa = core::randn({64}, a);
  CHECK(torch::equal(xa, core::randn({64}, b)));
  CHECK_FALSE(torch::equal(xa, core::randn({64}, c)));
  CHECK(xa.scalar_type() == torch::kFloat);
  CHECK(core::randn({3}, a, torch::kDouble).scalar_type() == torch::kDouble);

  // Draws do not touch the global generator.
  torch::manual_seed(7);
  const auto global_before = torch::randn({4});
  torch::manual_seed(7);
  core::randn({100}, a);
  CHECK(torch::equal(global_before, torch::randn({4})));
}

TEST_CASE("rand, randint and randperm stay in range", "[unit][rng]") {
  auto gen = core::make_generator(5);
  const auto u = core::rand({10000}, gen);
  CHECK(u.min().item<float>() >= 0.0f);
  CHECK(u.max().item<float>() < 1.0f);
  CHECK(std::abs(u.mean().item<float>() - 0.5f) < 0.02f);

  const auto k = core::randint(7, {5000}, gen);
  CHECK(k.scalar_type() == torch::kLong);
  CHECK(k.min().item<int64_t>() == 0);
  CHECK(k.max().item<int64_t>() == 6);

  const auto p = core::randperm(100, gen);
  CHECK(p.scalar_type() == torch::kLong);
  CHECK(torch::equal(std::get<0>(p.sort()), torch::arange(100, torch::kLong)));
  CHECK_FALSE(torch::equal(p, torch::arange(100, torch::kLong)));
  CHECK_THROWS_AS(core::randint(0, {2}, gen), Error);
}

TEST_CASE("saving and restoring generator state resumes the stream exactly", "[unit][rng]") {
  auto gen = core::make_generator(99);
  core::randn({17}, gen);
  const auto state = core::generator_state(gen);
  CHECK(state.scalar_type() == torch::kByte);
  const auto next = core::randn({33}, gen);
  const auto after = core::rand({5}, gen);

  core::set_generator_state(gen, state);
  CHECK(torch::equal(core::randn({33}, gen), next));
  CHECK(torch::equal(core::rand({5}, gen), after));

  // Into a generator with another seed, too.
  auto other = core::make_generator(1);
  core::set_generator_state(other, state);
  CHECK(torch::equal(core::randn({33}, other), next));

  // The saved state is a copy, unaffected by later draws.
  const auto state_copy = state.clone();
  core::randn({10}, gen);
  CHECK(torch::equal(state, state_copy));

  CHECK_THROWS_AS(core::set_generator_state(gen, torch::zeros({3}, torch::kFloat)), Error);
  CHECK_THROWS_AS(core::set_generator_state(gen, torch::zeros({3}, torch::kByte)), Error);
}

TEST_CASE("derive_seed is SplitMix64 and gives distinct streams", "[unit][rng]") {
  // Reference outputs of SplitMix64 seeded with 0 (Vigna's splitmix64.c).
  CHECK(core::derive_seed(0, 0) == 0xE220A8397B1DCDAFULL);
  CHECK(core::derive_seed(0, 1) == 0x6E789E6AA1B965F4ULL);
  CHECK(core::derive_seed(0, 2) == 0x06C45D188009454FULL);

  std::set<uint64_t> seen;
  for (uint64_t seed : {0ULL, 1ULL, 2ULL, 42ULL})
    for (uint64_t stream = 0; stream < 500; ++stream) seen.insert(core::derive_seed(seed, stream));
  CHECK(seen.size() == 4 * 500);
  CHECK(core::derive_seed(42, 3) == core::derive_seed(42, 3));

  auto a = core::make_generator(core::derive_seed(42, 0));
  auto b = core::make_generator(core::derive_seed(42, 1));
  CHECK_FALSE(torch::equal(core::randn({16}, a), core::randn({16}, b)));
}

TEST_CASE("CUDA generators are seeded and resumable", "[cuda][rng]") {
  if (!torch::cuda::is_available()) {
    test::skip_test("CUDA not available");
  }
  const torch::Device cuda(torch::kCUDA, 0);
  auto a = core::make_generator(11, cuda);
  auto b = core::make_generator(11, cuda);
  const auto x = core::randn({256}, a);
  CHECK(x.device().is_cuda());
  CHECK(torch::equal(x, core::randn({256}, b)));
  const auto state = core::generator_state(a);
  const auto next = core::randn({64}, a);
  core::set_generator_state(a, state);
  CHECK(torch::equal(core::randn({64}, a), next));
  CHECK(core::randperm(50, a).device().is_cpu());
  // Another seed, another stream.
  auto c = core::make_generator(12, cuda);
  CHECK_FALSE(torch::equal(core::randn({256}, c), core::randn({256}, b)));
}
