#pragma once
// A second Fashion-MNIST feature network, of a different architecture from the conv-conv-fc-fc
// classifier of fmnist_classifier.h: a small residual network with BatchNorm and global average
// pooling, trained and cached by fluxion like the first one (`--features fmnist-resnet`). An
// improvement measured in the `fmnist` space that also shows here is not an artefact of that one
// network (issue 11: the discriminator of DRL finetuning works in the `fmnist` space).
//
//   conv1 3x3 1->32, bn1, ReLU                         (B, 1, 28, 28) -> (B, 32, 28, 28)
//   layer1: basic block 32->32, stride 2               -> (B, 32, 14, 14)
//   layer2: basic block 32->64, stride 2               -> (B, 64, 7, 7)
//   layer3: basic block 64->128, stride 2              -> (B, 128, 4, 4)
//   global average pool                                -> (B, 128)   the features
//   fc                                                 -> (B, 10)    the logits (IS)
// A basic block is conv3x3-BN-ReLU-conv3x3-BN plus a shortcut (1x1 conv + BN where the shape
// changes), then ReLU; parameter names follow torchvision's ResNet (layer1.0.conv1.weight,
// layer2.0.downsample.0.weight, ...). Input: fmnist_preprocess (gray, 28x28, [-1, 1]).
#include <torch/torch.h>

#include <string>

#include "metrics/fmnist_classifier.h"

namespace fluxion::metrics {

class FmnistBasicBlockImpl : public torch::nn::Module {
 public:
  FmnistBasicBlockImpl(int64_t in_channels, int64_t out_channels, int64_t stride);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr};
  torch::nn::Sequential downsample{nullptr};  // null where the shortcut is the identity
};
TORCH_MODULE(FmnistBasicBlock);

class FmnistResnetImpl : public torch::nn::Module {
 public:
  FmnistResnetImpl();
  // x: float (B, 1, 28, 28) from fmnist_preprocess -> features (B, 128), logits (B, 10)
  FmnistOutputs forward(const torch::Tensor& x);
  // uint8 (B, C, H, W) -> outputs
  FmnistOutputs extract(const torch::Tensor& images_u8);

  static constexpr int64_t kFeatureDim = 128;

  torch::nn::Conv2d conv1{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr};
  torch::nn::Sequential layer1{nullptr}, layer2{nullptr}, layer3{nullptr};
  torch::nn::Linear fc{nullptr};
};
TORCH_MODULE(FmnistResnet);

struct FmnistResnetTrainOptions {
  int epochs = 4;
  int64_t batch_size = 128;
  double learning_rate = 2e-3;  // AdamW, 100 steps of linear warm-up, then cosine to 0
  double weight_decay = 0.05;
  bool flip = true;       // random horizontal flips
  int64_t max_shift = 0;  // random shifts up to this many pixels, zero fill (2: 4 epochs underfit, 91.4%)
  uint64_t seed = 0;
};

// A uint8 (B, C, H, W) batch flipped left-right with probability 1/2 and shifted by up to
// `max_shift` pixels in each direction (independently per image, zeros shifted in), drawing
// only from `gen`.
torch::Tensor fmnist_augment(const torch::Tensor& images_u8, at::Generator& gen, bool flip, int64_t max_shift);

// Trains on fashion-mnist:train and returns the model (eval mode) and its test accuracy.
FmnistResnet train_fmnist_resnet(const torch::Device& device, const FmnistResnetTrainOptions& options,
                                 double* test_accuracy);
// Accuracy on fashion-mnist:test (its first `limit` images when > 0).
double fmnist_resnet_test_accuracy(FmnistResnet& model, const torch::Device& device, int64_t limit = 0);

// Loads `path`; when it does not exist, trains, checks test accuracy >= 91%, saves to `path`
// (test accuracy and the recipe in the metadata) and logs the accuracy.
FmnistResnet load_or_train_fmnist_resnet(const std::string& path, const torch::Device& device);

// The network shipped with the sources (metrics/weights/fmnist_resnet.safetensors, trained by
// `tools/make_fmnist_classifier.sh resnet` on the CPU). "" when the file is absent.
std::string shipped_fmnist_resnet();

}  // namespace fluxion::metrics
