#include "objectives/dale_prior.h"

#include "core/error.h"

namespace fluxion::objectives {

namespace {
torch::Tensor log_x0(const torch::Tensor& x, const DaleConfig& c) {
  return torch::log((x.to(torch::kDouble) + 1.0) * 0.5 + c.offset);
}
}  // namespace

std::pair<torch::Tensor, torch::Tensor> fit_log_normal_prior(const torch::Tensor& x, const DaleConfig& c) {
  auto logs = log_x0(x, c);
  // (B, C, H, W) -> (C, B*H*W)
  auto per_channel = logs.transpose(0, 1).reshape({logs.size(1), -1});
  auto mean = per_channel.mean(1) + (c.mu - 0.5 * c.sigma * c.sigma) * c.horizon;
  auto std = (per_channel.var(1, /*unbiased=*/false) + c.sigma * c.sigma * c.horizon).sqrt();
  return {mean, std};
}

core::TensorMap fit_dale_priors(const torch::Tensor& x, const torch::Tensor& labels, int64_t num_classes,
                                const DaleConfig& c) {
  FLUXION_CHECK(x.dim() == 4 && labels.dim() == 1 && labels.size(0) == x.size(0) && x.size(0) > 0,
                "Dale prior fit: images (B, C, H, W) and labels (B) expected, got ", x.sizes(), " and ",
                labels.sizes());
  auto [mean, std] = fit_log_normal_prior(x, c);
  auto logs = log_x0(x, c);
  const double drift = (c.mu - 0.5 * c.sigma * c.sigma) * c.horizon, noise_var = c.sigma * c.sigma * c.horizon;
  auto stats = [&](const torch::Tensor& rows) {  // (n, C, H, W) -> mean, std of log X_T per pixel
    return std::make_pair(rows.mean(0) + drift, (rows.var(0, /*unbiased=*/false) + noise_var).sqrt());
  };
  const auto all = stats(logs);
  std::vector<torch::Tensor> class_means, class_stds;
  auto labels_cpu = labels.to(torch::kCPU, torch::kLong);
  for (int64_t k = 0; k < num_classes; ++k) {
    auto members = (labels_cpu == k).nonzero().flatten();
    const auto row = members.numel() > 0 ? stats(logs.index_select(0, members.to(logs.device()))) : all;
    class_means.push_back(row.first);
    class_stds.push_back(row.second);
  }
  class_means.push_back(all.first);
  class_stds.push_back(all.second);
  return {{"prior_mean", mean},
          {"prior_std", std},
          {"prior_class_mean", torch::stack(class_means).to(torch::kFloat)},
          {"prior_class_std", torch::stack(class_stds).to(torch::kFloat)}};
}

core::TensorMap fit_dale_priors(const core::Dataset& data, int data_threads, int64_t num_classes, const DaleConfig& c) {
  const int64_t n = std::min<int64_t>(data.size(), 20000);
  std::vector<int64_t> indices(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) indices[static_cast<size_t>(i)] = i * data.size() / n;
  torch::Tensor labels;
  auto images = core::load_images(data, indices, data_threads, &labels);
  // uint8 -> [-1, 1]
  return fit_dale_priors(images.to(torch::kFloat) / 127.5 - 1.0, labels, num_classes, c);
}

std::string resolve_dale_prior(const std::string& kind, const core::TensorMap& state) {
  const bool has_class = state.count("prior_class_mean") && state.count("prior_class_std");
  if (kind == "auto") return has_class ? "class" : "channel";
  FLUXION_CHECK(kind == "class" || kind == "channel", "unknown Dale prior '", kind, "' (auto, class, channel)");
  FLUXION_CHECK(
      kind != "class" || has_class,
      "--prior class: the checkpoint has no per-class prior (written by an older fluxion); use --prior channel");
  return kind;
}

torch::Tensor sample_dale_prior(const core::TensorMap& state, const std::string& kind, const torch::Tensor& labels,
                                const torch::Tensor& z) {
  auto zf = z.to(torch::kFloat);
  if (resolve_dale_prior(kind, state) == "channel") {
    // (C) -> (1, C, 1, 1)
    auto m = state.at("prior_mean").to(zf.device(), torch::kFloat).view({1, -1, 1, 1});
    auto s = state.at("prior_std").to(zf.device(), torch::kFloat).view({1, -1, 1, 1});
    return torch::exp(m + s * zf);
  }
  const auto& means = state.at("prior_class_mean");
  FLUXION_CHECK(means.dim() == 4 && means.sizes().slice(1) == zf.sizes().slice(1),
                "the checkpoint's class prior has shape ", means.sizes(), ", samples ", zf.sizes());
  const int64_t null_row = means.size(0) - 1;
  auto rows = labels.to(zf.device(), torch::kLong);
  rows = torch::where((rows >= 0) & (rows <= null_row), rows, torch::full_like(rows, null_row));
  // (K + 1, C, H, W) -> (B, C, H, W)
  auto m = means.to(zf.device(), torch::kFloat).index_select(0, rows);
  auto s = state.at("prior_class_std").to(zf.device(), torch::kFloat).index_select(0, rows);
  return torch::exp(m + s * zf);
}

}  // namespace fluxion::objectives
