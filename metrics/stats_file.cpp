#include "metrics/stats_file.h"

#include "core/error.h"
#include "core/npz.h"

namespace fluxion::metrics {

namespace {
GaussianStats checked(const std::string& path, const std::string& mu_key, const std::string& sigma_key,
                      const core::ArrayMap& arrays) {
  auto mu = arrays.at(mu_key).to(torch::kDouble).contiguous();
  auto sigma = arrays.at(sigma_key).to(torch::kDouble).contiguous();
  FLUXION_CHECK(mu.dim() == 1, "stats ", path, ": '", mu_key, "' has shape ", mu.sizes(), ", expected (D)");
  const int64_t d = mu.size(0);
  FLUXION_CHECK(sigma.dim() == 2 && sigma.size(0) == d && sigma.size(1) == d, "stats ", path, ": '", sigma_key,
                "' has shape ", sigma.sizes(), ", expected (", d, ", ", d, ")");
  FLUXION_CHECK(torch::isfinite(mu).all().item<bool>() && torch::isfinite(sigma).all().item<bool>(), "stats ", path,
                ": '", mu_key, "'/'", sigma_key, "' contain non-finite values");
  return {mu, sigma, 0};
}
}  // namespace

void save_stats_npz(const std::string& path, const GaussianStats& stats, const std::optional<GaussianStats>& spatial) {
  core::ArrayMap arrays{{"mu", stats.mu.to(torch::kCPU, torch::kDouble)},
                        {"sigma", stats.sigma.to(torch::kCPU, torch::kDouble)}};
  if (spatial) {
    arrays["mu_s"] = spatial->mu.to(torch::kCPU, torch::kDouble);
    arrays["sigma_s"] = spatial->sigma.to(torch::kCPU, torch::kDouble);
  }
  core::save_npz(path, arrays, /*compress=*/true);
}

GaussianStats load_stats_npz(const std::string& path) {
  bool has_mu = false, has_sigma = false;
  for (const auto& member : core::list_npz(path)) {
    has_mu |= member.name == "mu";
    has_sigma |= member.name == "sigma";
  }
  FLUXION_CHECK(has_mu && has_sigma, "stats ", path,
                ": no 'mu' and 'sigma' arrays (not a pytorch-fid statistics file)");
  return checked(path, "mu", "sigma", core::load_npz(path, {"mu", "sigma"}));
}

ReferenceBatch load_reference_batch(const std::string& path) {
  ReferenceBatch out;
  std::vector<std::string> wanted;
  bool mu = false, sigma = false, mu_s = false, sigma_s = false;
  for (const auto& member : core::list_npz(path)) {
    mu |= member.name == "mu";
    sigma |= member.name == "sigma";
    mu_s |= member.name == "mu_s";
    sigma_s |= member.name == "sigma_s";
    out.has_images |= member.name == "arr_0";
  }
  if (mu && sigma) wanted.insert(wanted.end(), {"mu", "sigma"});
  if (mu_s && sigma_s) wanted.insert(wanted.end(), {"mu_s", "sigma_s"});
  if (wanted.empty()) return out;
  const auto arrays = core::load_npz(path, wanted);
  if (mu && sigma) out.pool = checked(path, "mu", "sigma", arrays);
  if (mu_s && sigma_s) out.spatial = checked(path, "mu_s", "sigma_s", arrays);
  return out;
}

}  // namespace fluxion::metrics
