// Dataset specs (DESIGN.md, CLI surface) -> a Dataset.
#include "core/dataset.h"

#include "core/dataset_sources.h"
#include "core/error.h"

#include <filesystem>

namespace fluxion::core {

namespace {
constexpr const char* kAcceptedForms =
    "fashion-mnist:train, fashion-mnist:test, fashion-mnist:DIR[:train|test], "
    "mnist:DIR[:train|test], cifar10:DIR[:train|test], a folder of images, or FILE.npz";

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }
bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// "DIR[:train|test]" -> (DIR, split), train by default.
std::pair<std::string, std::string> split_suffix(const std::string& rest) {
  for (const char* split : {"train", "test"}) {
    const std::string suffix = std::string(":") + split;
    if (ends_with(rest, suffix)) return {rest.substr(0, rest.size() - suffix.size()), split};
  }
  return {rest, "train"};
}

std::shared_ptr<Dataset> open_fashion_mnist(const std::string& spec, const std::string& rest) {
  if (rest == "train" || rest == "test") {
    const std::string dir = fashion_mnist_default_dir();
    FLUXION_CHECK(std::filesystem::is_directory(dir), "data '", spec, "': Fashion-MNIST files not found in ", dir,
                  " (install them with `apt-get install dataset-fashion-mnist`, set "
                  "FLUXION_FASHION_MNIST_DIR, or use fashion-mnist:DIR:",
                  rest, ")");
    return open_idx_folder(dir, rest, "fashion-mnist", fashion_mnist_class_names());
  }
  const auto [dir, split] = split_suffix(rest);
  return open_idx_folder(dir, split, "fashion-mnist", fashion_mnist_class_names());
}

std::shared_ptr<Dataset> open_source(const std::string& spec, int channels) {
  FLUXION_CHECK(!spec.empty(), "empty data spec; expected one of: ", kAcceptedForms);
  if (starts_with(spec, "fashion-mnist:")) return open_fashion_mnist(spec, spec.substr(14));
  if (starts_with(spec, "mnist:")) {
    const auto [dir, split] = split_suffix(spec.substr(6));
    return open_idx_folder(dir, split, "mnist");
  }
  if (starts_with(spec, "cifar10:")) {
    const auto [dir, split] = split_suffix(spec.substr(8));
    return open_cifar10(dir, split);
  }
  if (ends_with(spec, ".npz")) {
    FLUXION_CHECK(std::filesystem::is_regular_file(spec), "data '", spec, "': npz file not found");
    return open_npz_dataset(spec);
  }
  // Decoding straight to the wanted channel count keeps RGB files in a mixed folder lossless.
  if (std::filesystem::is_directory(spec)) return open_image_folder(spec, channels);
  fail("data '", spec, "': not a known spec, folder or .npz file; expected one of: ", kAcceptedForms);
}
}  // namespace

std::shared_ptr<Dataset> open_dataset(const std::string& spec, const ImageTransform& transform) {
  return transform_dataset(open_source(spec, transform.channels), transform);
}

}  // namespace fluxion::core
