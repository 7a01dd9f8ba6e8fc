#include "train/metrics_log.h"

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/atomic_file.h"

namespace fluxion::train {

void truncate_metrics(const std::string& path, int64_t step) {
  std::ifstream in(path);
  if (!in) return;
  std::string kept, line;
  while (std::getline(in, line)) {
    try {
      if (nlohmann::json::parse(line).value("step", int64_t{0}) <= step) kept += line + "\n";
    } catch (const std::exception&) {
      // a line torn by a kill: dropped
    }
  }
  core::write_file_atomically(path, [&](std::ostream& out) { out << kept; });
}

}  // namespace fluxion::train
