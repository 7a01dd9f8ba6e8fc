#pragma once
// Image datasets behind one interface. Items are uint8 (C, H, W) images with int64 labels
// (-1 when unlabelled); a Batcher turns them into float [-1, 1] batches in a seeded order,
// decoding on several threads.
//
// Specs (open_dataset):
//   fashion-mnist:train | fashion-mnist:test      Debian's dataset-fashion-mnist files
//   fashion-mnist:DIR[:train|test], mnist:DIR[:train|test]   idx files, gzipped or not
//   cifar10:DIR[:train|test]                      CIFAR-10 binary batches
//   DIR                                           images, class subfolders as labels
//   FILE.npz                                      ADM layout: arr_0 uint8 NHWC, optional arr_1
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace fluxion::core {

struct Example {
  torch::Tensor image;  // uint8 (C, H, W)
  int64_t label = -1;
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  virtual Example get(int64_t index) const = 0;  // thread-safe
  virtual int64_t num_classes() const = 0;       // 0 when unlabelled
  virtual int channels() const = 0;
  virtual int height() const = 0;  // of every item, after any transform
  virtual int width() const = 0;
  virtual std::string describe() const = 0;  // one line: source, count, shape, classes
  // Human names of the classes when the source knows them (Fashion-MNIST, CIFAR-10, folders).
  virtual std::vector<std::string> class_names() const { return {}; }
};

// Class names in label order, for reports.
const std::vector<std::string>& fashion_mnist_class_names();
const std::vector<std::string>& cifar10_class_names();

// Resizing/cropping/padding applied to each item.
struct ImageTransform {
  int resize = 0;       // shorter side to this size (bilinear, antialiased) when > 0
  int center_crop = 0;  // then centre crop to this square when > 0
  int pad_to = 0;       // then zero-pad (symmetrically) to this square when > 0 (28 -> 32)
  int channels = 0;     // 0 keeps; 1 or 3 converts
  // ADM's center_crop_arr to this square when > 0 (core/pil_resize.h: Pillow BOX halvings, then
  // BICUBIC, bit for bit), the ImageNet preprocessing of ADM, SiT and REPA; instead of resize and
  // center_crop, after the channel conversion.
  int adm_crop = 0;
  bool empty() const { return resize <= 0 && center_crop <= 0 && pad_to <= 0 && channels <= 0 && adm_crop <= 0; }
};

// Applies `transform` to one uint8 (C, H, W) image: channels, then resize, crop, pad. `source`
// names the image in errors (e.g. a crop larger than the image).
torch::Tensor transform_image(const torch::Tensor& image_u8, const ImageTransform& transform,
                              const std::string& source = "image");

// Unknown specs throw one line listing the accepted forms. A non-empty transform wraps the source.
std::shared_ptr<Dataset> open_dataset(const std::string& spec, const ImageTransform& transform = {});
// Wraps any dataset so that get() returns transformed items.
std::shared_ptr<Dataset> transform_dataset(std::shared_ptr<Dataset> dataset, const ImageTransform& transform);

// Seeded batching of a dataset: the order, resuming and data-parallel slices are BatchOrder's
// (core/batch_order.h); next() decodes this rank's items on several threads. Resuming needs the
// same dataset, seed, shuffle, batch size and drop_last. One consumer only (next() is not
// thread-safe; decoding inside it is parallel).
class Batcher {
 public:
  Batcher(std::shared_ptr<Dataset> dataset, int64_t batch_size, uint64_t seed, bool shuffle = true,
          bool drop_last = true, int threads = 0 /* 0: hardware */);
  struct Batch {
    torch::Tensor images;  // float (B, C, H, W) in [-1, 1]
    torch::Tensor labels;  // int64 (B)
  };
  Batch next();
  int64_t position() const;             // examples consumed since the start
  void set_position(int64_t position);  // continue exactly from a checkpoint
  int64_t batches_per_epoch() const;
  int64_t epoch() const;                     // epoch of the next batch
  void set_shard(int rank, int world_size);  // batch_size must divide by world_size
  const Dataset& dataset() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// Decodes `indices` of a dataset into uint8 (N, C, H, W) on `threads` threads.
torch::Tensor load_images(const Dataset& dataset, const std::vector<int64_t>& indices, int threads = 0,
                          torch::Tensor* labels = nullptr);

}  // namespace fluxion::core
