// ADM's sample/reference layout: an .npz with arr_0 uint8 (N, H, W, C) and optional arr_1 labels.
#include "core/dataset_sources.h"

#include "core/error.h"
#include "core/npz.h"

namespace fluxion::core {

std::shared_ptr<Dataset> open_npz_dataset(const std::string& path) {
  bool has_labels = false, has_images = false;
  for (const auto& member : list_npz(path)) {
    has_images = has_images || member.name == "arr_0";
    has_labels = has_labels || member.name == "arr_1";
  }
  FLUXION_CHECK(has_images, "npz ", path, ": no arr_0 (expected ADM layout: arr_0 uint8 NHWC)");
  std::vector<std::string> names = {"arr_0"};
  if (has_labels) names.push_back("arr_1");
  auto arrays = load_npz(path, names);
  auto images = arrays.at("arr_0");
  FLUXION_CHECK(images.scalar_type() == torch::kByte, "npz ", path, ": arr_0 has dtype ",
                c10::toString(images.scalar_type()), ", expected uint8");
  if (images.dim() == 3) images = images.unsqueeze(-1);  // (N, H, W) -> (N, H, W, 1)
  FLUXION_CHECK(images.dim() == 4 && (images.size(3) == 1 || images.size(3) == 3), "npz ", path, ": arr_0 has shape ",
                images.sizes(), ", expected (N, H, W, 1 or 3)");
  torch::Tensor labels;
  if (has_labels) {
    labels = arrays.at("arr_1");
    FLUXION_CHECK(!at::isFloatingType(labels.scalar_type()) && labels.scalar_type() != torch::kBool, "npz ", path,
                  ": arr_1 (labels) has dtype ", c10::toString(labels.scalar_type()), ", expected integers");
    FLUXION_CHECK(labels.dim() == 1 && labels.size(0) == images.size(0), "npz ", path, ": arr_1 has shape ",
                  labels.sizes(), " for ", images.size(0), " images");
  }
  // (N, H, W, C) -> (N, C, H, W)
  return make_tensor_dataset(images.permute({0, 3, 1, 2}).contiguous(), labels, concat("npz ", path));
}

}  // namespace fluxion::core
