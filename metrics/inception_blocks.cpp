#include "metrics/inception_blocks.h"

namespace fluxion::metrics {

namespace {
// TF SAME average pooling: padded cells are not counted.
torch::Tensor avg_pool_same(const torch::Tensor& x) {
  return torch::avg_pool2d(x, {3, 3}, {1, 1}, {1, 1}, /*ceil_mode=*/false,
                           /*count_include_pad=*/false);
}
}  // namespace

BasicConv2dImpl::BasicConv2dImpl(int64_t in, int64_t out, Pair kernel, Pair stride, Pair padding) {
  conv = register_module(
      "conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, kernel).stride(stride).padding(padding).bias(false)));
  bn = register_module("bn", torch::nn::BatchNorm2d(torch::nn::BatchNorm2dOptions(out).eps(1e-3)));
}

torch::Tensor BasicConv2dImpl::forward(const torch::Tensor& x) { return torch::relu(bn->forward(conv->forward(x))); }

FidInceptionAImpl::FidInceptionAImpl(int64_t in, int64_t pool_features) {
  branch1x1 = register_module("branch1x1", BasicConv2d(in, 64, Pair{1, 1}));
  branch5x5_1 = register_module("branch5x5_1", BasicConv2d(in, 48, Pair{1, 1}));
  branch5x5_2 = register_module("branch5x5_2", BasicConv2d(48, 64, Pair{5, 5}, Pair{1, 1}, Pair{2, 2}));
  branch3x3dbl_1 = register_module("branch3x3dbl_1", BasicConv2d(in, 64, Pair{1, 1}));
  branch3x3dbl_2 = register_module("branch3x3dbl_2", BasicConv2d(64, 96, Pair{3, 3}, Pair{1, 1}, Pair{1, 1}));
  branch3x3dbl_3 = register_module("branch3x3dbl_3", BasicConv2d(96, 96, Pair{3, 3}, Pair{1, 1}, Pair{1, 1}));
  branch_pool = register_module("branch_pool", BasicConv2d(in, pool_features, Pair{1, 1}));
}

torch::Tensor FidInceptionAImpl::forward(const torch::Tensor& x) {
  auto b1 = branch1x1->forward(x);
  auto b5 = branch5x5_2->forward(branch5x5_1->forward(x));
  auto b3 = branch3x3dbl_3->forward(branch3x3dbl_2->forward(branch3x3dbl_1->forward(x)));
  auto bp = branch_pool->forward(avg_pool_same(x));
  return torch::cat({b1, b5, b3, bp}, 1);
}

InceptionBImpl::InceptionBImpl(int64_t in) {
  branch3x3 = register_module("branch3x3", BasicConv2d(in, 384, Pair{3, 3}, Pair{2, 2}));
  branch3x3dbl_1 = register_module("branch3x3dbl_1", BasicConv2d(in, 64, Pair{1, 1}));
  branch3x3dbl_2 = register_module("branch3x3dbl_2", BasicConv2d(64, 96, Pair{3, 3}, Pair{1, 1}, Pair{1, 1}));
  branch3x3dbl_3 = register_module("branch3x3dbl_3", BasicConv2d(96, 96, Pair{3, 3}, Pair{2, 2}));
}

torch::Tensor InceptionBImpl::forward(const torch::Tensor& x) {
  auto b3 = branch3x3->forward(x);
  auto bd = branch3x3dbl_3->forward(branch3x3dbl_2->forward(branch3x3dbl_1->forward(x)));
  auto bp = torch::max_pool2d(x, {3, 3}, {2, 2});
  return torch::cat({b3, bd, bp}, 1);
}

FidInceptionCImpl::FidInceptionCImpl(int64_t in, int64_t c7) {
  const Pair k17{1, 7}, k71{7, 1}, p03{0, 3}, p30{3, 0}, s1{1, 1}, k1{1, 1};
  branch1x1 = register_module("branch1x1", BasicConv2d(in, 192, k1));
  branch7x7_1 = register_module("branch7x7_1", BasicConv2d(in, c7, k1));
  branch7x7_2 = register_module("branch7x7_2", BasicConv2d(c7, c7, k17, s1, p03));
  branch7x7_3 = register_module("branch7x7_3", BasicConv2d(c7, 192, k71, s1, p30));
  branch7x7dbl_1 = register_module("branch7x7dbl_1", BasicConv2d(in, c7, k1));
  branch7x7dbl_2 = register_module("branch7x7dbl_2", BasicConv2d(c7, c7, k71, s1, p30));
  branch7x7dbl_3 = register_module("branch7x7dbl_3", BasicConv2d(c7, c7, k17, s1, p03));
  branch7x7dbl_4 = register_module("branch7x7dbl_4", BasicConv2d(c7, c7, k71, s1, p30));
  branch7x7dbl_5 = register_module("branch7x7dbl_5", BasicConv2d(c7, 192, k17, s1, p03));
  branch_pool = register_module("branch_pool", BasicConv2d(in, 192, k1));
}

torch::Tensor FidInceptionCImpl::forward(const torch::Tensor& x, torch::Tensor* branch1x1_out) {
  auto b1 = branch1x1->forward(x);
  if (branch1x1_out) *branch1x1_out = b1;
  auto b7 = branch7x7_3->forward(branch7x7_2->forward(branch7x7_1->forward(x)));
  auto bd = branch7x7dbl_1->forward(x);
  bd = branch7x7dbl_3->forward(branch7x7dbl_2->forward(bd));
  bd = branch7x7dbl_5->forward(branch7x7dbl_4->forward(bd));
  auto bp = branch_pool->forward(avg_pool_same(x));
  return torch::cat({b1, b7, bd, bp}, 1);
}

InceptionDImpl::InceptionDImpl(int64_t in) {
  branch3x3_1 = register_module("branch3x3_1", BasicConv2d(in, 192, Pair{1, 1}));
  branch3x3_2 = register_module("branch3x3_2", BasicConv2d(192, 320, Pair{3, 3}, Pair{2, 2}));
  branch7x7x3_1 = register_module("branch7x7x3_1", BasicConv2d(in, 192, Pair{1, 1}));
  branch7x7x3_2 = register_module("branch7x7x3_2", BasicConv2d(192, 192, Pair{1, 7}, Pair{1, 1}, Pair{0, 3}));
  branch7x7x3_3 = register_module("branch7x7x3_3", BasicConv2d(192, 192, Pair{7, 1}, Pair{1, 1}, Pair{3, 0}));
  branch7x7x3_4 = register_module("branch7x7x3_4", BasicConv2d(192, 192, Pair{3, 3}, Pair{2, 2}));
}

torch::Tensor InceptionDImpl::forward(const torch::Tensor& x) {
  auto b3 = branch3x3_2->forward(branch3x3_1->forward(x));
  auto b7 = branch7x7x3_2->forward(branch7x7x3_1->forward(x));
  b7 = branch7x7x3_4->forward(branch7x7x3_3->forward(b7));
  auto bp = torch::max_pool2d(x, {3, 3}, {2, 2});
  return torch::cat({b3, b7, bp}, 1);
}

FidInceptionEImpl::FidInceptionEImpl(int64_t in, bool max_pool_branch) : max_pool_branch_(max_pool_branch) {
  const Pair k1{1, 1}, k13{1, 3}, k31{3, 1}, p01{0, 1}, p10{1, 0}, s1{1, 1};
  branch1x1 = register_module("branch1x1", BasicConv2d(in, 320, k1));
  branch3x3_1 = register_module("branch3x3_1", BasicConv2d(in, 384, k1));
  branch3x3_2a = register_module("branch3x3_2a", BasicConv2d(384, 384, k13, s1, p01));
  branch3x3_2b = register_module("branch3x3_2b", BasicConv2d(384, 384, k31, s1, p10));
  branch3x3dbl_1 = register_module("branch3x3dbl_1", BasicConv2d(in, 448, k1));
  branch3x3dbl_2 = register_module("branch3x3dbl_2", BasicConv2d(448, 384, Pair{3, 3}, s1, Pair{1, 1}));
  branch3x3dbl_3a = register_module("branch3x3dbl_3a", BasicConv2d(384, 384, k13, s1, p01));
  branch3x3dbl_3b = register_module("branch3x3dbl_3b", BasicConv2d(384, 384, k31, s1, p10));
  branch_pool = register_module("branch_pool", BasicConv2d(in, 192, k1));
}

torch::Tensor FidInceptionEImpl::forward(const torch::Tensor& x) {
  auto b1 = branch1x1->forward(x);
  auto b3 = branch3x3_1->forward(x);
  b3 = torch::cat({branch3x3_2a->forward(b3), branch3x3_2b->forward(b3)}, 1);
  auto bd = branch3x3dbl_2->forward(branch3x3dbl_1->forward(x));
  bd = torch::cat({branch3x3dbl_3a->forward(bd), branch3x3dbl_3b->forward(bd)}, 1);
  // Mixed_7c's max pool reproduces the TF graph pytorch-fid was ported from
  auto pooled = max_pool_branch_ ? torch::max_pool2d(x, {3, 3}, {1, 1}, {1, 1}) : avg_pool_same(x);
  auto bp = branch_pool->forward(pooled);
  return torch::cat({b1, b3, bd, bp}, 1);
}

}  // namespace fluxion::metrics
