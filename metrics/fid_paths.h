#pragma once
// pytorch-fid's command line as a library: the Fréchet distance between two paths, each a folder
// of images, an image .npz (ADM sample batch, arr_0), a dataset spec (fashion-mnist:test, ...) or
// a statistics .npz (mu, sigma; an ADM reference batch's stored statistics count as such), and
// --save-stats, which writes the statistics of one path. Same inputs, same number as
//   python -m pytorch_fid PATH PATH [--dims D] [--save-stats]
#include <array>
#include <string>

#include "metrics/frechet.h"

namespace fluxion::metrics {

struct FidPathsConfig {
  std::array<std::string, 2> paths;
  std::string features = "inception";  // pytorch-fid's network; any --features spec works
  int64_t dims = 2048;                 // 64, 192, 768 or 2048 (Inception blocks)
  std::string device = "auto";
  int64_t batch_size = 50;
  int threads = 0;  // decoding threads (pytorch-fid's --num-workers)
};

// The statistics of one path: loaded as they are when it is a statistics .npz (--features and
// --dims then do not apply, as in pytorch-fid), else computed.
GaussianStats stats_of_path(const std::string& path, const FidPathsConfig& config);

// FID between config.paths[0] and config.paths[1] (as pytorch-fid's calculate_fid_given_paths).
FrechetResult fid_of_paths(const FidPathsConfig& config);

// Writes the statistics of paths[0] to paths[1] (an .npz that must not exist yet), as
// pytorch-fid's --save-stats; returns the number of images.
int64_t save_fid_stats(const FidPathsConfig& config);

}  // namespace fluxion::metrics
