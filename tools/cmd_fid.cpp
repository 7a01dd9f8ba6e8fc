// fluxion fid A.npz B.npz: the Fréchet distance between two statistics files, as pytorch-fid
// computes it for the same files.
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "metrics/frechet.h"
#include "metrics/stats_file.h"
#include "tools/commands.h"

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
  auto files = std::make_shared<std::vector<std::string>>();
  auto* sub = app.add_subcommand("fid", "Frechet distance between two statistics files (mu, sigma)");
  sub->add_option("files", *files, "two .npz statistics files (pytorch-fid layout)")->required()->expected(2);
  sub->callback([files] {
    const auto a = metrics::load_stats_npz(files->at(0));
    const auto b = metrics::load_stats_npz(files->at(1));
    const auto r = metrics::frechet_distance_detailed(a.mu, a.sigma, b.mu, b.sigma);
    if (r.regularized)
      std::cerr << "fid calculation produces singular product; added 1e-06 to diagonal of cov estimates\n";
    std::cout << "FID: " << shortest(r.distance) << "\n";
  });
}

}  // namespace fluxion::cli
