#pragma once
// pytorch-fid's FID Inception-v3 (torchvision Inception3 with 1008 classes and the FID blocks),
// with the outputs every Inception-based metric needs. Weights: pt_inception-2015-12-05 converted
// to safetensors with its PyTorch names: fetched and converted on first use (metrics/weights_cache),
// or by hand with `fluxion convert --inception` (tools/convert_inception.py as a fallback).
#include <torch/torch.h>

#include <string>

#include "metrics/inception_blocks.h"

namespace fluxion::metrics {

// How uint8 images become the network's 299x299 input.
enum class InceptionPreprocess {
  pytorch_fid,  // x/255 -> bilinear (align_corners=False, no antialias) -> 2x - 1
  tf_adm,       // float 0..255 -> TF1 bilinear (torch-fidelity) -> (x - 128) / 128 (ADM, TTUR)
};

struct InceptionOutputs {
  torch::Tensor block0;         // (B, 64)  spatial mean after the first max pool
  torch::Tensor block1;         // (B, 192) spatial mean after the second max pool
  torch::Tensor block2;         // (B, 768) spatial mean after Mixed_6e
  torch::Tensor pool3;          // (B, 2048)
  torch::Tensor logits;         // (B, 1008) fc(pool3) with bias
  torch::Tensor logits_nobias;  // (B, 1008) pool3 W^T, what IS uses (ADM, torch-fidelity)
  torch::Tensor spatial;        // (B, 2023) sFID: Mixed_6d.branch1x1[:, :7], flattened NHWC
};

// uint8 (B, C, H, W), C = 1 or 3, on any device -> float (B, 3, 299, 299) network input.
torch::Tensor inception_preprocess(const torch::Tensor& images_u8, InceptionPreprocess mode);

// TensorFlow 1.x resize_bilinear with align_corners=False as torch-fidelity reproduces it:
// source = dest * (in / out), no half-pixel offset, upper neighbour clamped. float (B, C, H, W).
torch::Tensor resize_bilinear_tf1(const torch::Tensor& x, int64_t out_h, int64_t out_w);

class InceptionFidImpl : public torch::nn::Module {
 public:
  InceptionFidImpl();
  // x: preprocessed float (B, 3, 299, 299)
  InceptionOutputs forward(const torch::Tensor& x);
  // uint8 images -> outputs (preprocessing included)
  InceptionOutputs extract(const torch::Tensor& images_u8, InceptionPreprocess mode);

  BasicConv2d Conv2d_1a_3x3{nullptr}, Conv2d_2a_3x3{nullptr}, Conv2d_2b_3x3{nullptr}, Conv2d_3b_1x1{nullptr},
      Conv2d_4a_3x3{nullptr};
  FidInceptionA Mixed_5b{nullptr}, Mixed_5c{nullptr}, Mixed_5d{nullptr};
  InceptionB Mixed_6a{nullptr};
  FidInceptionC Mixed_6b{nullptr}, Mixed_6c{nullptr}, Mixed_6d{nullptr}, Mixed_6e{nullptr};
  InceptionD Mixed_7a{nullptr};
  FidInceptionE Mixed_7b{nullptr}, Mixed_7c{nullptr};
  torch::nn::Linear fc{nullptr};
};
TORCH_MODULE(InceptionFid);

// Loads pytorch-fid-named weights from a safetensors file onto `device`, in eval mode.
InceptionFid load_inception_fid(const std::string& path, const torch::Device& device = torch::kCPU);

}  // namespace fluxion::metrics
