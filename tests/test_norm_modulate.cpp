// models/norm_modulate.h: LayerNorm (or RMSNorm) + adaLN modulate. Without the CUDA kernels it is
// exactly the unfused ops; with them (FLUXION_CUDA_KERNELS) the fused forward and backward on CUDA agree with
// the unfused ops' autograd to float32 round-off, and to bf16 rounding under autocast.
#include <catch2/catch.hpp>

#include <optional>

#include "core/compat.h"
#include "models/fused_kernels.h"
#include "models/layers.h"
#include "models/norm_modulate.h"
#include "test_helpers.h"

using namespace fluxion;

namespace {
struct Inputs {
  torch::Tensor x, adaln;  // (B, N, D) and the (B, 6D) adaLN output whose chunks are shift and scale
};

Inputs make_inputs(const torch::Device& device, int64_t B, int64_t N, int64_t D) {
  torch::manual_seed(21);
  Inputs in;
  in.x = (torch::randn({B, N, D}) * 3 + 1).to(device).requires_grad_();
  in.adaln = (torch::randn({B, 6 * D}) * 0.5).to(device).requires_grad_();
  return in;
}

// y, dx and d(adaLN output) for a fixed upstream gradient, through `f`
template <typename F>
std::vector<torch::Tensor> run(const Inputs& in, const torch::Tensor& upstream, F f) {
  auto chunks = in.adaln.chunk(6, 1);  // strided (B, D) views, as the blocks pass them
  auto y = f(in.x, chunks[0], chunks[1]);
  (y.to(torch::kFloat) * upstream).sum().backward();
  std::vector<torch::Tensor> out = {y.detach().to(torch::kDouble).cpu(), in.x.grad().to(torch::kDouble).cpu(),
                                    in.adaln.grad().to(torch::kDouble).cpu()};
  in.x.grad().zero_();
  in.adaln.grad().zero_();
  return out;
}

torch::Tensor unfused(const torch::Tensor& x, const torch::Tensor& shift, const torch::Tensor& scale) {
  return models::modulate(models::plain_layer_norm(x), shift, scale);
}
}  // namespace

TEST_CASE("norm_modulate is LayerNorm then modulate, with the same gradients", "[unit][models]") {
  const auto in = make_inputs(torch::kCPU, 2, 5, 8);
  const auto upstream = torch::randn({2, 5, 8});
  const auto fused = run(in, upstream, [](auto&&... a) { return models::norm_modulate(a...); });
  const auto reference = run(in, upstream, unfused);
  for (size_t i = 0; i < fused.size(); ++i) CHECK(test::max_abs_diff(fused[i], reference[i]) < 1e-6);
}

TEST_CASE("the fused CUDA LayerNorm + modulate agrees with the unfused ops forward and backward", "[cuda][models]") {
  if (!torch::cuda::is_available()) test::skip_test("CUDA not available");
  if (!models::fused_kernels_built()) test::skip_test("built without FLUXION_CUDA_KERNELS");
  const int64_t B = 3, N = 37, D = 200;  // D not a multiple of the block, N not of the token lanes
  const auto in = make_inputs(torch::kCUDA, B, N, D);
  const auto upstream = torch::randn({B, N, D}).cuda();
  auto fused_fn = [](auto&&... a) { return models::norm_modulate(a...); };

  SECTION("float32") {
    const auto fused = run(in, upstream, fused_fn);
    const auto reference = run(in, upstream, unfused);
    for (size_t i = 0; i < fused.size(); ++i) {
      INFO("output " << i);
      CHECK(test::max_abs_diff(fused[i], reference[i]) < 2e-5 * (1 + reference[i].abs().max().item<double>()));
    }
  }
  SECTION("bf16 autocast: the output in bf16, rounded once") {
    std::vector<torch::Tensor> fused, reference;
    {
      compat::AutocastGuard autocast(c10::DeviceType::CUDA, torch::kBFloat16);
      // under autocast the adaLN output, hence shift and scale, is bf16
      auto bf16_inputs = Inputs{in.x, in.adaln};
      fused = run(bf16_inputs, upstream, [](const torch::Tensor& x, const torch::Tensor& s, const torch::Tensor& c) {
        auto y = models::norm_modulate(x, s.to(torch::kBFloat16), c.to(torch::kBFloat16));
        CHECK(y.scalar_type() == torch::kBFloat16);
        return y;
      });
      reference =
          run(bf16_inputs, upstream, [](const torch::Tensor& x, const torch::Tensor& s, const torch::Tensor& c) {
            return unfused(x, s.to(torch::kBFloat16), c.to(torch::kBFloat16)).to(torch::kBFloat16);
          });
    }
    // forward: both round the same float32 value to bf16 (2^-8 relative), up to LayerNorm's own round-off
    CHECK(((fused[0] - reference[0]).abs() - reference[0].abs() * std::ldexp(1.0, -7)).max().item<double>() < 1e-4);
    for (size_t i = 1; i < fused.size(); ++i) {
      INFO("gradient " << i);
      CHECK(test::max_abs_diff(fused[i], reference[i]) < 2e-2 * (1 + reference[i].abs().max().item<double>()));
    }
  }
}

TEST_CASE("fluxion --version says whether the fused CUDA kernels are built", "[e2e][models]") {
  const auto result = test::run_fluxion("--version");
  CHECK(result.exit_code == 0);
  CHECK_THAT(result.output, Catch::Contains(std::string("fused CUDA kernels: ") + models::fused_kernels_status()));
}

TEST_CASE("rms_norm_modulate is RMSNorm then modulate, with the same gradients", "[unit][models]") {
  const auto in = make_inputs(torch::kCPU, 2, 5, 8);
  const auto upstream = torch::randn({2, 5, 8});
  auto weight = (1 + torch::randn({8}) * 0.3).requires_grad_();
  auto fused_fn = [&](const torch::Tensor& x, const torch::Tensor& s, const torch::Tensor& c) {
    return models::rms_norm_modulate(x, weight, s, c, 1e-6);
  };
  auto unfused_fn = [&](const torch::Tensor& x, const torch::Tensor& s, const torch::Tensor& c) {
    return models::modulate(models::rms_norm(x, weight, 1e-6), s, c);
  };
  const auto fused = run(in, upstream, fused_fn);
  const auto fused_weight_grad = weight.grad().clone();
  weight.mutable_grad().reset();
  const auto reference = run(in, upstream, unfused_fn);
  for (size_t i = 0; i < fused.size(); ++i) CHECK(test::max_abs_diff(fused[i], reference[i]) < 1e-6);
  CHECK(test::max_abs_diff(fused_weight_grad, weight.grad()) < 1e-6);
}

TEST_CASE("the fused CUDA RMSNorm + modulate agrees with the unfused ops forward and backward", "[cuda][models]") {
  if (!torch::cuda::is_available()) test::skip_test("CUDA not available");
  if (!models::fused_kernels_built()) test::skip_test("built without FLUXION_CUDA_KERNELS");
  const int64_t B = 3, N = 37, D = 200;
  const auto in = make_inputs(torch::kCUDA, B, N, D);
  const auto upstream = torch::randn({B, N, D}).cuda();
  auto weight = (1 + torch::randn({D}) * 0.3).cuda().requires_grad_();
  const bool bf16 = GENERATE(false, true);
  INFO((bf16 ? "bf16 autocast" : "float32"));
  auto with = [&](bool fused) {
    return [&, fused](const torch::Tensor& x, const torch::Tensor& s, const torch::Tensor& c) {
      const auto shift = bf16 ? s.to(torch::kBFloat16) : s, scale = bf16 ? c.to(torch::kBFloat16) : c;
      return fused ? models::rms_norm_modulate(x, weight, shift, scale, 1e-6)
                   : models::modulate(models::rms_norm(x, weight, 1e-6), shift, scale);
    };
  };
  std::vector<torch::Tensor> fused, reference;
  torch::Tensor fused_weight_grad;
  {
    std::optional<compat::AutocastGuard> autocast;
    if (bf16) autocast.emplace(c10::DeviceType::CUDA, torch::kBFloat16);
    fused = run(in, upstream, with(true));
    fused_weight_grad = weight.grad().cpu().to(torch::kDouble);
    weight.mutable_grad().reset();
    reference = run(in, upstream, with(false));
  }
  const double tolerance = bf16 ? 2e-2 : 2e-5;
  for (size_t i = 0; i < fused.size(); ++i) {
    INFO("output " << i);
    CHECK(test::max_abs_diff(fused[i], reference[i]) < tolerance * (1 + reference[i].abs().max().item<double>()));
  }
  const auto weight_grad = weight.grad().cpu().to(torch::kDouble);
  CHECK(test::max_abs_diff(fused_weight_grad, weight_grad) < tolerance * (1 + weight_grad.abs().max().item<double>()));
}
