#pragma once
// The concrete dataset sources behind open_dataset (one .cpp each). Callers normally use
// open_dataset(spec); these are for code that already knows its source and for tests.
#include "core/dataset.h"

#include <string>

namespace fluxion::core {

// Images already in memory: uint8 (N, C, H, W) and int64 labels (N) or an undefined tensor.
// num_classes < 0 takes max(label) + 1. `name` starts describe().
std::shared_ptr<Dataset> make_tensor_dataset(torch::Tensor images_u8, torch::Tensor labels, std::string name,
                                             int64_t num_classes = -1, std::vector<std::string> class_names = {});

// idx files (MNIST layout), gzipped or raw: images magic 0x00000803 (N, H, W) uint8, labels
// 0x00000801 (N) uint8. `name` goes into describe(); `class_names` may be empty.
std::shared_ptr<Dataset> open_idx_dataset(const std::string& images_path, const std::string& labels_path,
                                          const std::string& name, std::vector<std::string> class_names = {});
// DIR holding {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] (or the "train-images.idx3-ubyte"
// spelling); split is "train" or "test".
std::shared_ptr<Dataset> open_idx_folder(const std::string& dir, const std::string& split, const std::string& name,
                                         std::vector<std::string> class_names = {});
// Debian's dataset-fashion-mnist (or $FLUXION_FASHION_MNIST_DIR when set).
std::string fashion_mnist_default_dir();

// CIFAR-10 binary version: DIR (or DIR/cifar-10-batches-bin) with data_batch_1..5.bin and
// test_batch.bin, records of 1 label byte + 3072 bytes (R, G, B planes of 32x32).
std::shared_ptr<Dataset> open_cifar10(const std::string& dir, const std::string& split);

// Images under DIR: if DIR holds image files directly, every image below it (recursively) is
// an unlabelled item; otherwise each subfolder (sorted by name) is a class. `channels` 0 takes
// the first image's gray/RGB for all.
std::shared_ptr<Dataset> open_image_folder(const std::string& dir, int channels = 0);

// ADM-style npz: arr_0 uint8 (N, H, W, C) or (N, H, W), optional arr_1 integer labels (N).
std::shared_ptr<Dataset> open_npz_dataset(const std::string& path);

}  // namespace fluxion::core
