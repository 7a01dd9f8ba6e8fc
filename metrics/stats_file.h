#pragma once
// Statistics files: pytorch-fid's .npz layout (mu <f8 (D), sigma <f8 (D, D)), which
// `pytorch-fid` and `fluxion fid` read interchangeably, and ADM's reference batches
// (VIRTUAL_imagenet256_labeled.npz: arr_0 images, mu/sigma over pool3, mu_s/sigma_s over the
// sFID features).
#include <optional>
#include <string>

#include "metrics/frechet.h"

namespace fluxion::metrics {

// Writes mu and sigma as float64, deflated as np.savez_compressed does; with `spatial`, also
// mu_s/sigma_s (ADM's sFID statistics).
void save_stats_npz(const std::string& path, const GaussianStats& stats,
                    const std::optional<GaussianStats>& spatial = std::nullopt);

// Reads mu/sigma from an .npz (stored or deflated). Checks shapes and finiteness.
GaussianStats load_stats_npz(const std::string& path);

struct ReferenceBatch {
  std::optional<GaussianStats> pool;     // mu, sigma
  std::optional<GaussianStats> spatial;  // mu_s, sigma_s
  bool has_images = false;               // arr_0 present (uint8 NHWC)
};

// What an .npz holds, without decompressing the images.
ReferenceBatch load_reference_batch(const std::string& path);

}  // namespace fluxion::metrics
