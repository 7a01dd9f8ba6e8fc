// The autograd functions around fluxion's CUDA kernels (models/norm_modulate.cpp,
// models/fused_gated_residual.cpp, models/fused_rope.cpp), built here with the CPU as the kernels'
// device: each fused op, and whole SiT and JiT models whose blocks run through them, give the
// unfused ops' outputs and gradients. The reference is the same model in float64, which the
// kernels do not take, so it runs the unfused path.
#include <cstdlib>
#include <memory>

#include "emulated_cuda.h"
#include "kernel_checks.h"
#include "model_checks.h"
#include "models/fused_gated_residual.h"
#include "models/fused_kernels.h"
#include "models/fused_rope.h"
#include "models/fused_swiglu.h"
#include "models/jit.h"
#include "models/layers.h"
#include "models/norm_modulate.h"
#include "models/sit.h"

using namespace fluxion;
using kernel_checks::check_against_float64;
using kernel_checks::close;

namespace {
int64_t launches() { return kernel_emulation::launch_count(); }

}  // namespace

TEST_CASE("the emulated build routes norm_modulate, the gated residual and RoPE to the kernels", "[unit][kernels]") {
  CHECK(models::fused_kernels_built());
  auto x = torch::randn({2, 3, 8}, torch::requires_grad());
  CHECK(models::fused_gated_residual(x, torch::randn({2, 8}), torch::randn({2, 3, 8})).has_value());
  CHECK(models::fused_rope(torch::randn({1, 2, 4, 8}), models::axial_rope_tables(8, 2, 0)).has_value());
  // float64 and no gradient to compute stay on the unfused path
  CHECK_FALSE(models::fused_gated_residual(x.to(torch::kDouble), torch::randn({2, 8}, torch::kDouble),
                                           torch::randn({2, 3, 8}, torch::kDouble))
                  .has_value());
  CHECK_FALSE(models::fused_gated_residual(x.detach(), torch::randn({2, 8}), torch::randn({2, 3, 8})).has_value());
}

TEST_CASE("the fused ops' autograd functions give the unfused ops' values and gradients", "[unit][kernels]") {
  torch::manual_seed(17);
  const int64_t B = 2, N = 9, D = 40;
  auto x = (torch::randn({B, N, D}) * 2 + 1).requires_grad_();
  auto adaln = (torch::randn({B, 6 * D}) * 0.5).requires_grad_();  // chunks: shift, scale, gate, ...
  auto y = torch::randn({B, N, D}).requires_grad_();
  const auto upstream = torch::randn({B, N, D}, torch::kDouble);

  SECTION("norm_modulate") {
    auto run = [&](const torch::Tensor& xx, const torch::Tensor& a) {
      auto chunks = a.chunk(6, 1);
      return models::norm_modulate(xx, chunks[0], chunks[1]);
    };
    const int64_t before = launches();
    auto got = run(x, adaln);
    (got.to(torch::kDouble) * upstream).sum().backward();
    CHECK(launches() == before + 3);  // one forward, two backward
    auto xd = x.detach().to(torch::kDouble).requires_grad_(), ad = adaln.detach().to(torch::kDouble).requires_grad_();
    auto want = run(xd, ad);
    (want * upstream).sum().backward();
    CHECK(close(got, want.detach(), 1e-5));
    CHECK(close(x.grad(), xd.grad(), 1e-5));
    CHECK(close(adaln.grad(), ad.grad(), 1e-5));
  }
  SECTION("rms_norm_modulate") {
    auto weight = (1 + torch::randn({D}) * 0.3).requires_grad_();
    auto run = [&](const torch::Tensor& xx, const torch::Tensor& w, const torch::Tensor& a) {
      auto chunks = a.chunk(6, 1);
      return models::rms_norm_modulate(xx, w, chunks[0], chunks[1], 1e-6);
    };
    const int64_t before = launches();
    auto got = run(x, weight, adaln);
    (got.to(torch::kDouble) * upstream).sum().backward();
    CHECK(launches() == before + 3);
    auto xd = x.detach().to(torch::kDouble).requires_grad_(), ad = adaln.detach().to(torch::kDouble).requires_grad_();
    auto wd = weight.detach().to(torch::kDouble).requires_grad_();
    auto want = run(xd, wd, ad);
    (want * upstream).sum().backward();
    CHECK(close(got, want.detach(), 1e-5));
    CHECK(close(x.grad(), xd.grad(), 1e-5));
    CHECK(close(weight.grad(), wd.grad(), 1e-5));
    CHECK(close(adaln.grad(), ad.grad(), 1e-5));
  }
  SECTION("the gated residual, with bf16 gate and y as under autocast") {
    auto a16 = adaln.detach().to(torch::kBFloat16).requires_grad_();
    auto y16 = y.detach().to(torch::kBFloat16).requires_grad_();
    const int64_t before = launches();
    auto got = models::gated_residual(x, a16.chunk(6, 1)[2], y16);
    (got.to(torch::kDouble) * upstream).sum().backward();
    CHECK(launches() == before + 1);
    CHECK(got.scalar_type() == torch::kFloat);
    CHECK(y16.grad().scalar_type() == torch::kBFloat16);
    auto xd = x.detach().to(torch::kDouble).requires_grad_();
    auto ad = a16.detach().to(torch::kDouble).requires_grad_(), yd = y16.detach().to(torch::kDouble).requires_grad_();
    auto want = torch::addcmul(xd, ad.chunk(6, 1)[2].unsqueeze(1), yd);
    (want * upstream).sum().backward();
    CHECK(close(got, want.detach(), 1e-6));
    CHECK(close(x.grad(), xd.grad(), 1e-6));
    CHECK(close(a16.grad(), ad.grad(), 1.0 / 128));  // bf16 gradients: one rounding
    CHECK(close(y16.grad(), yd.grad(), 1.0 / 128));
  }
  SECTION("SwiGLU's activation, float32 and bf16") {
    const auto type = GENERATE(torch::kFloat, torch::kBFloat16);
    INFO("dtype " << type);
    auto both = (torch::randn({B, N, 2 * D}) * 3).to(type).requires_grad_();
    const int64_t before = launches();
    auto got = models::fused_swiglu(both);
    REQUIRE(got.has_value());
    (got->to(torch::kDouble) * upstream).sum().backward();
    CHECK(launches() == before + 2);
    CHECK(got->scalar_type() == type);
    auto bothd = both.detach().to(torch::kDouble).requires_grad_();
    auto halves = bothd.chunk(2, -1);
    auto want = torch::silu(halves[0]) * halves[1];
    (want * upstream).sum().backward();
    const double tolerance = type == torch::kFloat ? 1e-6 : 1.0 / 128;
    CHECK(close(*got, want.detach(), tolerance));
    CHECK(close(both.grad(), bothd.grad(), tolerance));
  }
  SECTION("RoPE on a strided q, with in-context prefix tokens") {
    const int64_t H = 2, d = 8, grid = 2, prefix = 5;
    const auto rope = models::axial_rope_tables(d, grid, prefix);
    auto qkv = torch::randn({B, prefix + grid * grid, 3, H, d}).requires_grad_();
    auto q = qkv.select(2, 0).permute({0, 2, 1, 3});  // (B, H, N, d)
    const auto rope_upstream = torch::randn(q.sizes(), torch::kDouble);
    const int64_t before = launches();
    auto got = models::apply_rope(q, rope);
    (got.to(torch::kDouble) * rope_upstream).sum().backward();
    CHECK(launches() == before + 2);
    auto qkvd = qkv.detach().to(torch::kDouble).requires_grad_();
    auto want = models::apply_rope(qkvd.select(2, 0).permute({0, 2, 1, 3}), rope);
    (want * rope_upstream).sum().backward();
    CHECK(close(got, want.detach(), 1e-6));
    CHECK(close(qkv.grad(), qkvd.grad(), 1e-6));
  }
}

TEST_CASE("SiT through the emulated kernels gives the float64 unfused model's output and gradients",
          "[unit][kernels]") {
  check_against_float64<models::SiT>(kernel_checks::tiny_sit_config(), torch::randn({2, 2, 8, 8}));
}

TEST_CASE("JiT through the emulated kernels gives the float64 unfused model's output and gradients",
          "[unit][kernels]") {
  models::JiTConfig config;
  config.input_size = 16;
  config.patch_size = 4;
  config.in_channels = 3;
  config.hidden_size = 48;
  config.depth = 4;
  config.num_heads = 3;  // head dimension 16: axial RoPE needs a multiple of 4
  config.num_classes = 5;
  config.bottleneck_dim = 16;
  config.in_context_len = 2;
  config.in_context_start = 2;
  check_against_float64<models::JiT>(config, torch::randn({2, 3, 16, 16}));
}

TEST_CASE("FLUXION_FUSED_KERNELS and set_fused_kernels_enabled switch the kernels off", "[unit][kernels]") {
  auto x = torch::randn({2, 3, 8}, torch::requires_grad());
  const auto gate = torch::randn({2, 8}), y = torch::randn({2, 3, 8});
  const auto rope = models::axial_rope_tables(8, 2, 0);
  CHECK(models::fused_kernels_status() == "on");

  setenv("FLUXION_FUSED_KERNELS", "0", 1);
  CHECK_FALSE(models::fused_kernels_enabled());
  CHECK(models::fused_kernels_status() == "off (FLUXION_FUSED_KERNELS)");
  const int64_t before = launches();
  CHECK_FALSE(models::fused_gated_residual(x, gate, y).has_value());
  CHECK_FALSE(models::fused_rope(torch::randn({1, 2, 4, 8}), rope).has_value());
  CHECK_FALSE(models::fused_swiglu(x).has_value());
  models::norm_modulate(x, gate, gate).sum().backward();
  CHECK(launches() == before);

  setenv("FLUXION_FUSED_KERNELS", "maybe", 1);
  CHECK_THROWS_WITH(models::fused_kernels_enabled(), Catch::Contains("FLUXION_FUSED_KERNELS=maybe"));
  setenv("FLUXION_FUSED_KERNELS", "on", 1);
  CHECK(models::fused_kernels_enabled());
  unsetenv("FLUXION_FUSED_KERNELS");

  models::set_fused_kernels_enabled(false);
  CHECK(models::fused_kernels_status() == "off");
  CHECK_FALSE(models::fused_gated_residual(x, gate, y).has_value());
  models::set_fused_kernels_enabled(std::nullopt);
  CHECK(models::fused_gated_residual(x, gate, y).has_value());
}
