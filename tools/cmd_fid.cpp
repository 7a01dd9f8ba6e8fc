// fluxion fid PATH PATH: pytorch-fid's command line. Each path is a folder of images, an image
// .npz (arr_0), a dataset spec or a statistics .npz; --save-stats writes the statistics of the
// first path to the second. The value is printed as pytorch-fid prints it.
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "metrics/fid_paths.h"
#include "tools/commands.h"
#include "tools/offline_flag.h"

namespace fluxion::cli {

namespace {
// the shortest decimal that reads back as the same double (Python's repr)
std::string shortest(double value) {
  char buffer[64];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buffer, sizeof buffer, "%.*g", precision, value);
    if (std::strtod(buffer, nullptr) == value) break;
  }
  return buffer;
}
}  // namespace

void add_fid(CLI::App& app) {
  auto config = std::make_shared<metrics::FidPathsConfig>();
  auto paths = std::make_shared<std::vector<std::string>>();
  auto save_stats = std::make_shared<bool>(false);
  auto* sub = app.add_subcommand("fid", "FID between two image sets or statistics files, as pytorch-fid");
  sub->add_option("paths", *paths,
                  "two paths: image folders, image .npz (arr_0), dataset specs or statistics .npz (mu, sigma)")
      ->required()
      ->expected(2);
  sub->add_flag("--save-stats", *save_stats, "write the statistics of the first path to the second (.npz)");
  sub->add_option("--dims", config->dims, "Inception features: 64, 192, 768 or 2048")->capture_default_str();
  sub->add_option("--batch-size", config->batch_size, "images per batch")->capture_default_str();
  sub->add_option("--device", config->device, "auto, cpu, cuda, cuda:N")->capture_default_str();
  sub->add_option("--num-workers", config->threads, "decoding threads (0: all cores)")->capture_default_str();
  sub->add_option("--features", config->features,
                  "inception[:W] (pytorch-fid's network), inception-adm[:W], dinov2[:W], fmnist[:W], fmnist-resnet[:W]")
      ->capture_default_str();
  add_offline_flag(*sub);
  sub->callback([config, paths, save_stats] {
    config->paths = {paths->at(0), paths->at(1)};
    if (*save_stats) {
      const auto count = metrics::save_fid_stats(*config);
      std::cerr << "wrote " << config->paths[1] << " (" << count << " images)\n";
      return;
    }
    const auto r = metrics::fid_of_paths(*config);
    if (r.regularized)
      std::cerr << "fid calculation produces singular product; adding 1e-06 to diagonal of cov estimates\n";
    std::cout << "FID:  " << shortest(r.distance) << "\n";  // print('FID: ', value)
  });
}

}  // namespace fluxion::cli
