#pragma once
// The files `fluxion sample` writes (generate.h), internal to objectives/: a PNG per image in a
// folder, which a re-run reuses, and the grid and ADM .npz of all images.
#include <torch/torch.h>

#include <cstdint>
#include <string>

namespace fluxion::objectives {

// dir/000012_3.png for image 12 of label 3.
std::string image_name(const std::string& dir, int64_t index, int64_t label);

// Images [first, first + count) read back from `dir` into rows (uint8 (count, C, S, S)) when
// every one of them is there (a re-run into the same folder); false, with `rows` untouched, when
// one is missing or `dir` is "". labels: int64 (N), indexed by image.
bool reuse_written_images(const std::string& dir, const torch::Tensor& labels, int64_t first, int64_t count,
                          torch::Tensor rows);

// images: uint8 (count, C, S, S), written as dir/image_name(first + i, labels[first + i]); with
// only_missing, files already there are left as they are (another rank wrote them to a shared
// folder).
void write_image_files(const std::string& dir, const torch::Tensor& labels, int64_t first, const torch::Tensor& images,
                       bool only_missing = false);

// A grid PNG of the first `grid_images` images ("" for none) and an ADM .npz (arr_0 uint8 NHWC,
// gray expanded to RGB; arr_1 int64 labels; "" for none) of all of them.
void write_image_collections(const std::string& grid, int64_t grid_images, const std::string& npz,
                             const torch::Tensor& all, const torch::Tensor& labels);

}  // namespace fluxion::objectives
