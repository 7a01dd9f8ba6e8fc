// A folder of image files decoded on demand through stb (core/image_io.h).
#include "core/dataset_sources.h"

#include "core/error.h"
#include "core/image_io.h"

#include <algorithm>
#include <cctype>
#include <filesystem>

namespace fluxion::core {

namespace {
namespace fs = std::filesystem;

bool is_image_file(const fs::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  static const std::vector<std::string> known = {".png", ".jpg", ".jpeg", ".bmp", ".tga",
                                                 ".gif", ".ppm", ".pgm",  ".pnm"};
  return std::find(known.begin(), known.end(), ext) != known.end();
}

// Every image file below `dir`, sorted by path so the item order is the same everywhere.
std::vector<std::string> images_below(const fs::path& dir) {
  std::vector<std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(dir, fs::directory_options::follow_directory_symlink))
    if (entry.is_regular_file() && is_image_file(entry.path())) files.push_back(entry.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

class ImageFolderDataset final : public Dataset {
 public:
  ImageFolderDataset(std::string dir, std::vector<std::string> files, std::vector<int64_t> labels,
                     std::vector<std::string> class_names, int channels)
      : dir_(std::move(dir)),
        files_(std::move(files)),
        labels_(std::move(labels)),
        class_names_(std::move(class_names)) {
    // The first image fixes the shape (and the channel count when not asked for).
    const auto first = read_image(files_.front(), channels);
    channels_ = static_cast<int>(first.size(0));
    height_ = static_cast<int>(first.size(1));
    width_ = static_cast<int>(first.size(2));
  }

  int64_t size() const override { return static_cast<int64_t>(files_.size()); }
  Example get(int64_t index) const override {
    FLUXION_CHECK(index >= 0 && index < size(), "image folder ", dir_, ": index ", index, " out of range [0, ", size(),
                  ")");
    Example example;
    example.image = read_image(files_[index], channels_);
    example.label = labels_.empty() ? -1 : labels_[index];
    return example;
  }
  int64_t num_classes() const override { return static_cast<int64_t>(class_names_.size()); }
  int channels() const override { return channels_; }
  int height() const override { return height_; }
  int width() const override { return width_; }
  std::string describe() const override {
    return concat("image folder ", dir_, ": ", size(), " images, first ", channels_, "x", height_, "x", width_,
                  class_names_.empty() ? std::string(", unlabelled") : concat(", ", class_names_.size(), " classes"));
  }
  std::vector<std::string> class_names() const override { return class_names_; }

 private:
  std::string dir_;
  std::vector<std::string> files_;
  std::vector<int64_t> labels_;
  std::vector<std::string> class_names_;
  int channels_ = 0, height_ = 0, width_ = 0;
};
}  // namespace

std::shared_ptr<Dataset> open_image_folder(const std::string& dir, int channels) {
  FLUXION_CHECK(fs::is_directory(dir), "image folder ", dir, ": not found");
  FLUXION_CHECK(channels == 0 || channels == 1 || channels == 3, "image folder ", dir,
                ": channels must be 0, 1 or 3, got ", channels);
  bool loose_images = false;
  std::vector<std::string> subfolders;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_regular_file() && is_image_file(entry.path())) loose_images = true;
    if (entry.is_directory()) subfolders.push_back(entry.path().filename().string());
  }
  std::sort(subfolders.begin(), subfolders.end());
  std::vector<std::string> files;
  std::vector<int64_t> labels;
  std::vector<std::string> class_names;
  if (loose_images || subfolders.empty()) {
    files = images_below(dir);
  } else {
    for (const auto& name : subfolders) {
      const auto members = images_below(fs::path(dir) / name);
      if (members.empty()) continue;  // e.g. a stray empty folder is not a class
      const auto label = static_cast<int64_t>(class_names.size());
      class_names.push_back(name);
      files.insert(files.end(), members.begin(), members.end());
      labels.insert(labels.end(), members.size(), label);
    }
  }
  FLUXION_CHECK(!files.empty(), "image folder ", dir,
                ": no image files (.png, .jpg, .jpeg, .bmp, .tga, .gif, .ppm, .pgm)");
  return std::make_shared<ImageFolderDataset>(dir, std::move(files), std::move(labels), std::move(class_names),
                                              channels);
}

}  // namespace fluxion::core
