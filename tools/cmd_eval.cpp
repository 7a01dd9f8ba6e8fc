// fluxion eval --samples SPEC --ref SPEC [--features ...] [--metrics fd,is,kid,pr,sfid,spectral]
// [--json F]: evaluates samples against a reference and prints a table.
#include <iostream>

#include "metrics/evaluate.h"
#include "tools/commands.h"
#include "tools/offline_flag.h"

namespace fluxion::cli {

void add_eval(CLI::App& app) {
  auto config = std::make_shared<metrics::EvalConfig>();
  auto* sub = app.add_subcommand("eval", "evaluate samples against a reference (FD, IS, KID, P/R, sFID, spectra)");
  sub->add_option("--samples", config->samples, "dataset spec of the samples (folder, .npz, ...)")->required();
  sub->add_option("--ref", config->ref,
                  "reference: a dataset spec, an ADM reference batch (.npz with arr_0, mu, sigma) or a stats .npz")
      ->required();
  sub->add_option("--features", config->features,
                  "inception[:W] (pytorch-fid), inception-adm[:W] (ADM/TF), dinov2[:W], fmnist[:W], fmnist-resnet[:W]")
      ->capture_default_str();
  sub->add_option("--metrics", config->metrics, "comma-separated: fd, is, kid, pr, sfid, spectral")
      ->delimiter(',')
      ->capture_default_str();
  sub->add_option("--json", config->json, "write the results as JSON");
  sub->add_option("--spectrum-plot", config->spectrum_plot, "PNG of both power spectra (default: next to --json)");
  sub->add_option("--device", config->device, "auto, cpu, cuda, cuda:N")->capture_default_str();
  sub->add_option("--batch", config->batch_size, "images per batch")->capture_default_str();
  sub->add_option("--threads", config->threads, "decoding threads (0: all cores)")->capture_default_str();
  sub->add_option("--limit", config->limit, "use only the first N images of each set (0: all)")->capture_default_str();
  sub->add_option("--is-splits", config->is_splits, "Inception Score splits")->capture_default_str();
  sub->add_flag("!--is-contiguous", config->is_shuffle,
                "IS splits in sample order (ADM: --is-splits N/5000) instead of after a seeded permutation");
  sub->add_option("--kid-subsets", config->kid_subsets, "KID subsets")->capture_default_str();
  sub->add_option("--kid-subset-size", config->kid_subset_size, "KID subset size")->capture_default_str();
  sub->add_option("--seed", config->seed, "seed of the KID subsets and the IS permutation")->capture_default_str();
  sub->add_option("--pr-k", config->pr_k, "neighbourhood size of precision/recall")->capture_default_str();
  add_offline_flag(*sub);
  sub->callback([config] {
    const auto result = metrics::run_evaluation(*config);
    std::cout << metrics::format_eval_table(result);
  });
}

}  // namespace fluxion::cli
