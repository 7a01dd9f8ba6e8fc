#pragma once
// The building blocks of torchvision's Inception-v3 as pytorch-fid patches them for FID
// (FIDInceptionA/C/E_1/E_2). Submodule names match the PyTorch state dict
// ("Mixed_5b.branch5x5_1.conv.weight", "...bn.running_var").
#include <torch/torch.h>

#include <array>

namespace fluxion::metrics {

using Pair = std::array<int64_t, 2>;

// conv (no bias) -> BatchNorm (eps 1e-3) -> ReLU
class BasicConv2dImpl : public torch::nn::Module {
 public:
  BasicConv2dImpl(int64_t in, int64_t out, Pair kernel, Pair stride = {1, 1}, Pair padding = {0, 0});
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Conv2d conv{nullptr};
  torch::nn::BatchNorm2d bn{nullptr};
};
TORCH_MODULE(BasicConv2d);

// Mixed_5b/5c/5d. The pool branch averages without the padding (TF's SAME pooling).
class FidInceptionAImpl : public torch::nn::Module {
 public:
  FidInceptionAImpl(int64_t in, int64_t pool_features);
  torch::Tensor forward(const torch::Tensor& x);
  BasicConv2d branch1x1{nullptr}, branch5x5_1{nullptr}, branch5x5_2{nullptr}, branch3x3dbl_1{nullptr},
      branch3x3dbl_2{nullptr}, branch3x3dbl_3{nullptr}, branch_pool{nullptr};
};
TORCH_MODULE(FidInceptionA);

// Mixed_6a (unchanged torchvision InceptionB).
class InceptionBImpl : public torch::nn::Module {
 public:
  explicit InceptionBImpl(int64_t in);
  torch::Tensor forward(const torch::Tensor& x);
  BasicConv2d branch3x3{nullptr}, branch3x3dbl_1{nullptr}, branch3x3dbl_2{nullptr}, branch3x3dbl_3{nullptr};
};
TORCH_MODULE(InceptionB);

// Mixed_6b..6e. `branch1x1_out`, when given, receives the branch1x1 map (ADM's sFID tap).
class FidInceptionCImpl : public torch::nn::Module {
 public:
  FidInceptionCImpl(int64_t in, int64_t channels_7x7);
  torch::Tensor forward(const torch::Tensor& x, torch::Tensor* branch1x1_out = nullptr);
  BasicConv2d branch1x1{nullptr}, branch7x7_1{nullptr}, branch7x7_2{nullptr}, branch7x7_3{nullptr},
      branch7x7dbl_1{nullptr}, branch7x7dbl_2{nullptr}, branch7x7dbl_3{nullptr}, branch7x7dbl_4{nullptr},
      branch7x7dbl_5{nullptr}, branch_pool{nullptr};
};
TORCH_MODULE(FidInceptionC);

// Mixed_7a (unchanged torchvision InceptionD).
class InceptionDImpl : public torch::nn::Module {
 public:
  explicit InceptionDImpl(int64_t in);
  torch::Tensor forward(const torch::Tensor& x);
  BasicConv2d branch3x3_1{nullptr}, branch3x3_2{nullptr}, branch7x7x3_1{nullptr}, branch7x7x3_2{nullptr},
      branch7x7x3_3{nullptr}, branch7x7x3_4{nullptr};
};
TORCH_MODULE(InceptionD);

// Mixed_7b (E_1: average pool without padding) and Mixed_7c (E_2: max pool, as in the TF graph).
class FidInceptionEImpl : public torch::nn::Module {
 public:
  FidInceptionEImpl(int64_t in, bool max_pool_branch);
  torch::Tensor forward(const torch::Tensor& x);
  BasicConv2d branch1x1{nullptr}, branch3x3_1{nullptr}, branch3x3_2a{nullptr}, branch3x3_2b{nullptr},
      branch3x3dbl_1{nullptr}, branch3x3dbl_2{nullptr}, branch3x3dbl_3a{nullptr}, branch3x3dbl_3b{nullptr},
      branch_pool{nullptr};

 private:
  bool max_pool_branch_;
};
TORCH_MODULE(FidInceptionE);

}  // namespace fluxion::metrics
