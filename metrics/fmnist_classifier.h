#pragma once
// A small CNN classifier for Fashion-MNIST that fluxion trains itself and caches, so that FD,
// IS, KID and precision/recall on the default data are measured in a space that knows what
// clothes look like (Inception features of 28x28 gray images are not). Features are the 128-d
// penultimate layer (before its ReLU); logits serve IS.
#include <torch/torch.h>

#include <string>

namespace fluxion::metrics {

struct FmnistOutputs {
  torch::Tensor features;  // (B, 128)
  torch::Tensor logits;    // (B, 10)
};

class FmnistClassifierImpl : public torch::nn::Module {
 public:
  FmnistClassifierImpl();
  // x: float (B, 1, 28, 28) from fmnist_preprocess
  FmnistOutputs forward(const torch::Tensor& x);
  // uint8 (B, C, H, W) -> outputs
  FmnistOutputs extract(const torch::Tensor& images_u8);

  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(FmnistClassifier);

// Gray (channel mean), 32x32 centre-cropped to 28 (undoes fluxion's padding), other sizes
// resized bilinearly to 28; then x / 127.5 - 1.
torch::Tensor fmnist_preprocess(const torch::Tensor& images_u8);

struct FmnistTrainOptions {
  int epochs = 6;
  int64_t batch_size = 128;
  double learning_rate = 1e-3;
  uint64_t seed = 0;
  bool progress = true;
};

// Trains on fashion-mnist:train and returns the model (eval mode) and its test accuracy.
FmnistClassifier train_fmnist_classifier(const torch::Device& device, const FmnistTrainOptions& options,
                                         double* test_accuracy);
// Accuracy on fashion-mnist:test.
double fmnist_test_accuracy(FmnistClassifier& model, const torch::Device& device);

// Loads `path`; when it does not exist, trains, checks test accuracy >= 90%, saves to `path`
// (test accuracy in the metadata) and logs the accuracy.
FmnistClassifier load_or_train_fmnist_classifier(const std::string& path, const torch::Device& device);

// The classifier shipped with the sources (metrics/weights/, trained by
// tools/make_fmnist_classifier.sh on the CPU), so that a fresh machine does not train its own and
// every machine measures in the same feature space. "" when the file is absent.
std::string shipped_fmnist_classifier();

}  // namespace fluxion::metrics
