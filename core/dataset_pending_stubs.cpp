// TEMPORARY: stands in for dataset_folder.cpp / dataset_npz.cpp until core/image_io.cpp and
// core/npz.cpp land on main. Delete this file when renaming those two back from *.cpp.pending.
#include "core/dataset_sources.h"

#include "core/error.h"

namespace fluxion::core {

std::shared_ptr<Dataset> open_image_folder(const std::string& dir, int) {
  fail("image folder ", dir, ": image folders are not available in this build yet");
}

std::shared_ptr<Dataset> open_npz_dataset(const std::string& path) {
  fail("npz ", path, ": npz datasets are not available in this build yet");
}

}  // namespace fluxion::core
