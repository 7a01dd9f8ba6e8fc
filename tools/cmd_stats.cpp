// fluxion stats --images SPEC --features NAME[:WEIGHTS] -o STATS.npz: feature statistics of an
// image set in pytorch-fid's .npz layout.
#include <iostream>

#include "metrics/evaluate.h"
#include "tools/commands.h"
#include "tools/offline_flag.h"
#include "train/distributed.h"

namespace fluxion::cli {

void add_stats(CLI::App& app) {
  auto config = std::make_shared<metrics::StatsConfig>();
  auto* sub = app.add_subcommand("stats", "feature statistics (mu, sigma) of an image set");
  sub->add_option("--images", config->images, "dataset spec: a folder, an .npz (arr_0), fashion-mnist:train, ...")
      ->required();
  sub->add_option("--features", config->features,
                  "inception[:W] (pytorch-fid), inception-adm[:W] (ADM/TF), dinov2[:W], fmnist[:W], fmnist-resnet[:W]")
      ->capture_default_str();
  sub->add_option("-o,--output", config->output, "statistics file to write (.npz)")->required();
  sub->add_option("--device", config->device, "auto, cpu, cuda, cuda:N")->capture_default_str();
  sub->add_option("--batch", config->batch_size, "images per batch")->capture_default_str();
  sub->add_option("--threads", config->threads, "decoding threads (0: all cores)")->capture_default_str();
  sub->add_option("--limit", config->limit, "use only the first N images (0: all)")->capture_default_str();
  add_offline_flag(*sub);
  sub->callback([config] {
    auto ranks = train::join_command_ranks(config->device, "feature extraction");
    config->device = ranks.device;
    config->ranks = ranks.group.get();
    const auto summary = metrics::compute_stats_file(*config);
    if (!core::is_root(config->ranks)) return;  // rank 0 reports for the job
    std::cout << "wrote " << summary["output"].get<std::string>() << ": " << summary["count"].get<int64_t>()
              << " images, " << summary["dim"].get<int64_t>() << "-d " << summary["features"].get<std::string>()
              << " features\n";
  });
}

}  // namespace fluxion::cli
