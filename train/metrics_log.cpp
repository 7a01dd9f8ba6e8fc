#include "train/metrics_log.h"

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/atomic_file.h"

namespace fluxion::train {

double truncate_metrics(const std::string& path, int64_t step) {
  std::ifstream in(path);
  if (!in) return 0.0;
  std::string kept, line;
  double elapsed = 0.0;
  while (std::getline(in, line)) {
    try {
      const auto row = nlohmann::json::parse(line);
      if (row.value("step", int64_t{0}) > step) continue;
      kept += line + "\n";
      if (row.contains("elapsed_s") && row["elapsed_s"].is_number()) elapsed = row["elapsed_s"].get<double>();
    } catch (const std::exception&) {
      // a line torn by a kill: dropped
    }
  }
  core::write_file_atomically(path, [&](std::ostream& out) { out << kept; });
  return elapsed;
}

std::chrono::steady_clock::time_point run_clock_start(std::chrono::steady_clock::time_point now, double elapsed_s) {
  return now -
         std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(elapsed_s));
}

}  // namespace fluxion::train
