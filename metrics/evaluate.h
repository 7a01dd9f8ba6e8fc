#pragma once
// The two whole-dataset operations behind `fluxion stats` and `fluxion eval`.
#include <nlohmann/json.hpp>

#include "core/rank_group.h"

#include <string>
#include <vector>

namespace fluxion::metrics {

struct StatsConfig {
  std::string images;  // dataset spec
  std::string features = "inception";
  std::string output;  // .npz (mu, sigma; mu_s, sigma_s for inception-adm)
  std::string device = "auto";
  int64_t batch_size = 50;
  int threads = 0;
  int64_t limit = 0;
  core::RankGroup* ranks = nullptr;  // several ranks share the images; rank 0 writes
};

// Extracts features of every image, writes the statistics file, returns a summary
// ({"count", "dim", "features", "output"}; {} on ranks other than 0).
nlohmann::json compute_stats_file(const StatsConfig& config);

struct EvalConfig {
  std::string samples;  // dataset spec
  std::string ref;      // dataset spec, ADM reference batch (.npz with arr_0 and mu/sigma) or stats .npz
  std::string features = "inception";
  std::vector<std::string> metrics{"fd"};  // fd, is, kid, pr, sfid, spectral
  std::string device = "auto";
  std::string json;           // write the results here when set
  std::string spectrum_plot;  // PNG of both spectra ("" : next to --json when set)
  int64_t batch_size = 50;
  int threads = 0;
  int64_t limit = 0;  // samples and reference images used, when > 0
  int64_t is_splits = 10;
  bool is_shuffle = true;  // torch-fidelity's permutation; false: ADM's contiguous splits
  int64_t kid_subsets = 100;
  int64_t kid_subset_size = 1000;
  int64_t seed = 2020;  // KID subsets and the IS permutation (torch-fidelity's)
  int64_t pr_k = 3;
};

// Runs the requested metrics; returns {"samples", "ref", "features", "n_samples", "n_ref",
// "fd", "is_mean", "is_std", "kid_mean", "kid_std", "precision", "recall", "sfid",
// "spectral_distance", ...} for those computed, and writes --json.
nlohmann::json run_evaluation(const EvalConfig& config);

// A fixed-width table of the metric values of run_evaluation's result.
std::string format_eval_table(const nlohmann::json& result);

}  // namespace fluxion::metrics
