#include "metrics/inception_fid.h"

#include "core/error.h"
#include "core/safetensors.h"
#include "models/module_state.h"

namespace fluxion::metrics {

namespace {
constexpr int64_t kInputSize = 299;

torch::Tensor as_rgb_float(const torch::Tensor& images_u8) {
  FLUXION_CHECK(images_u8.dim() == 4 && (images_u8.size(1) == 1 || images_u8.size(1) == 3),
                "inception: images must be (B, 1|3, H, W), got shape ", images_u8.sizes());
  FLUXION_CHECK(images_u8.scalar_type() == torch::kUInt8, "inception: images must be uint8, got ",
                images_u8.scalar_type());
  auto x = images_u8.to(torch::kFloat);
  // gray -> RGB as PIL's convert("RGB") does
  if (x.size(1) == 1) x = x.expand({-1, 3, -1, -1});
  return x;
}
}  // namespace

torch::Tensor resize_bilinear_tf1(const torch::Tensor& x, int64_t out_h, int64_t out_w) {
  const int64_t in_h = x.size(2), in_w = x.size(3);
  const auto fopts = torch::TensorOptions().dtype(torch::kFloat).device(x.device());
  // float32 grid arithmetic, as torch-fidelity computes it
  auto axis = [&](int64_t in, int64_t out) {
    const float scale = static_cast<float>(static_cast<double>(in) / static_cast<double>(out));
    auto grid = torch::arange(out, fopts) * scale;
    auto lo = grid.to(torch::kLong);
    auto hi = (lo + 1).clamp_max(in - 1);
    auto frac = grid - lo.to(torch::kFloat);
    return std::make_tuple(lo, hi, frac);
  };
  auto [y_lo, y_hi, dy] = axis(in_h, out_h);
  auto [x_lo, x_hi, dx] = axis(in_w, out_w);
  const auto xf = x.to(torch::kFloat);
  auto rows_lo = xf.index_select(2, y_lo);  // (B, C, out_h, in_w)
  auto rows_hi = xf.index_select(2, y_hi);
  auto in_00 = rows_lo.index_select(3, x_lo);
  auto in_01 = rows_lo.index_select(3, x_hi);
  auto in_10 = rows_hi.index_select(3, x_lo);
  auto in_11 = rows_hi.index_select(3, x_hi);
  const auto wx = dx.view({1, 1, 1, out_w});
  const auto wy = dy.view({1, 1, out_h, 1});
  auto top = in_00 + (in_01 - in_00) * wx;
  auto bottom = in_10 + (in_11 - in_10) * wx;
  return top + (bottom - top) * wy;
}

torch::Tensor inception_preprocess(const torch::Tensor& images_u8, InceptionPreprocess mode) {
  auto x = as_rgb_float(images_u8);
  if (mode == InceptionPreprocess::pytorch_fid) {
    x = x / 255.0f;
    x = torch::upsample_bilinear2d(x, {kInputSize, kInputSize}, /*align_corners=*/false);
    return 2.0f * x - 1.0f;
  }
  x = resize_bilinear_tf1(x, kInputSize, kInputSize);
  return (x - 128.0f) / 128.0f;
}

InceptionFidImpl::InceptionFidImpl() {
  Conv2d_1a_3x3 = register_module("Conv2d_1a_3x3", BasicConv2d(3, 32, Pair{3, 3}, Pair{2, 2}));
  Conv2d_2a_3x3 = register_module("Conv2d_2a_3x3", BasicConv2d(32, 32, Pair{3, 3}));
  Conv2d_2b_3x3 = register_module("Conv2d_2b_3x3", BasicConv2d(32, 64, Pair{3, 3}, Pair{1, 1}, Pair{1, 1}));
  Conv2d_3b_1x1 = register_module("Conv2d_3b_1x1", BasicConv2d(64, 80, Pair{1, 1}));
  Conv2d_4a_3x3 = register_module("Conv2d_4a_3x3", BasicConv2d(80, 192, Pair{3, 3}));
  Mixed_5b = register_module("Mixed_5b", FidInceptionA(192, 32));
  Mixed_5c = register_module("Mixed_5c", FidInceptionA(256, 64));
  Mixed_5d = register_module("Mixed_5d", FidInceptionA(288, 64));
  Mixed_6a = register_module("Mixed_6a", InceptionB(288));
  Mixed_6b = register_module("Mixed_6b", FidInceptionC(768, 128));
  Mixed_6c = register_module("Mixed_6c", FidInceptionC(768, 160));
  Mixed_6d = register_module("Mixed_6d", FidInceptionC(768, 160));
  Mixed_6e = register_module("Mixed_6e", FidInceptionC(768, 192));
  Mixed_7a = register_module("Mixed_7a", InceptionD(768));
  Mixed_7b = register_module("Mixed_7b", FidInceptionE(1280, /*max_pool_branch=*/false));
  Mixed_7c = register_module("Mixed_7c", FidInceptionE(2048, /*max_pool_branch=*/true));
  fc = register_module("fc", torch::nn::Linear(2048, 1008));
}

InceptionOutputs InceptionFidImpl::forward(const torch::Tensor& input) {
  InceptionOutputs out;
  // block 0: (B, 3, 299, 299) -> (B, 64, 73, 73)
  auto x = Conv2d_2b_3x3->forward(Conv2d_2a_3x3->forward(Conv2d_1a_3x3->forward(input)));
  x = torch::max_pool2d(x, {3, 3}, {2, 2});
  out.block0 = x.mean({2, 3});
  // block 1: -> (B, 192, 35, 35)
  x = Conv2d_4a_3x3->forward(Conv2d_3b_1x1->forward(x));
  x = torch::max_pool2d(x, {3, 3}, {2, 2});
  out.block1 = x.mean({2, 3});
  // block 2: -> (B, 768, 17, 17)
  x = Mixed_5d->forward(Mixed_5c->forward(Mixed_5b->forward(x)));
  x = Mixed_6a->forward(x);
  x = Mixed_6c->forward(Mixed_6b->forward(x));
  torch::Tensor tap;
  x = Mixed_6d->forward(x, &tap);
  x = Mixed_6e->forward(x);
  out.block2 = x.mean({2, 3});
  // ADM's mixed_6/conv[..., :7]: (B, 192, 17, 17) -> (B, 17, 17, 7) -> (B, 2023)
  out.spatial = tap.narrow(1, 0, 7).permute({0, 2, 3, 1}).flatten(1);
  // block 3: -> (B, 2048, 8, 8) -> (B, 2048)
  x = Mixed_7c->forward(Mixed_7b->forward(Mixed_7a->forward(x)));
  out.pool3 = x.mean({2, 3});
  out.logits_nobias = torch::matmul(out.pool3, fc->weight.t());
  out.logits = out.logits_nobias + fc->bias;
  return out;
}

InceptionOutputs InceptionFidImpl::extract(const torch::Tensor& images_u8, InceptionPreprocess mode) {
  return forward(inception_preprocess(images_u8, mode));
}

InceptionFid load_inception_fid(const std::string& path, const torch::Device& device) {
  InceptionFid net;
  models::load_module_state(*net, core::load_safetensors(path), path, "the FID Inception");
  net->to(device);
  net->eval();
  return net;
}

}  // namespace fluxion::metrics
