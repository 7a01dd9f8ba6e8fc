// A dataset whose images already sit in one uint8 tensor (idx, CIFAR-10, npz sources).
#include "core/dataset_sources.h"

#include "core/error.h"

namespace fluxion::core {

namespace {
class TensorDataset final : public Dataset {
 public:
  TensorDataset(torch::Tensor images, torch::Tensor labels, std::string name, int64_t num_classes,
                std::vector<std::string> class_names)
      : images_(std::move(images)),
        labels_(std::move(labels)),
        name_(std::move(name)),
        num_classes_(num_classes),
        class_names_(std::move(class_names)) {}

  int64_t size() const override { return images_.size(0); }
  Example get(int64_t index) const override {
    FLUXION_CHECK(index >= 0 && index < size(), name_, ": index ", index, " out of range [0, ", size(), ")");
    Example example;
    example.image = images_[index].clone();
    example.label = labels_.defined() ? labels_.data_ptr<int64_t>()[index] : -1;
    return example;
  }
  int64_t num_classes() const override { return num_classes_; }
  int channels() const override { return static_cast<int>(images_.size(1)); }
  int height() const override { return static_cast<int>(images_.size(2)); }
  int width() const override { return static_cast<int>(images_.size(3)); }
  std::string describe() const override {
    return concat(name_, ": ", size(), " images ", channels(), "x", height(), "x", width(),
                  num_classes_ > 0 ? concat(", ", num_classes_, " classes") : ", unlabelled");
  }
  std::vector<std::string> class_names() const override { return class_names_; }

 private:
  torch::Tensor images_, labels_;
  std::string name_;
  int64_t num_classes_;
  std::vector<std::string> class_names_;
};
}  // namespace

std::shared_ptr<Dataset> make_tensor_dataset(torch::Tensor images_u8, torch::Tensor labels, std::string name,
                                             int64_t num_classes, std::vector<std::string> class_names) {
  FLUXION_CHECK(images_u8.defined() && images_u8.dim() == 4 && images_u8.scalar_type() == torch::kByte, name,
                ": images must be uint8 (N, C, H, W), got ",
                images_u8.defined() ? images_u8.sizes() : at::IntArrayRef{});
  FLUXION_CHECK(images_u8.size(1) == 1 || images_u8.size(1) == 3, name, ": images must have 1 or 3 channels, got ",
                images_u8.size(1));
  images_u8 = images_u8.cpu().contiguous();
  if (labels.defined()) {
    FLUXION_CHECK(labels.dim() == 1 && labels.size(0) == images_u8.size(0), name, ": ", labels.numel(), " labels for ",
                  images_u8.size(0), " images");
    labels = labels.to(torch::kCPU, torch::kLong).contiguous();
    if (labels.numel() > 0) {
      const int64_t lowest = labels.min().item<int64_t>();
      FLUXION_CHECK(lowest >= 0, name, ": negative label ", lowest);
      const int64_t needed = labels.max().item<int64_t>() + 1;
      if (num_classes < 0) num_classes = needed;
      FLUXION_CHECK(needed <= num_classes, name, ": label ", needed - 1, " out of range for ", num_classes, " classes");
    }
    if (num_classes < 0) num_classes = 0;
  } else {
    num_classes = 0;
  }
  return std::make_shared<TensorDataset>(std::move(images_u8), std::move(labels), std::move(name), num_classes,
                                         std::move(class_names));
}

}  // namespace fluxion::core
