#include "train/checkpoint_files.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iomanip>
#include <sstream>
#include <vector>

#include "core/error.h"

namespace fluxion::train {

std::string checkpoint_name(int64_t step) {
  std::ostringstream name;
  name << "step-" << std::setw(7) << std::setfill('0') << step << ".safetensors";
  return name.str();
}

std::string step_tag(int64_t step) { return checkpoint_name(step).substr(0, 12); }

void update_last_link(const std::string& target, const std::string& last) {
  const std::string temp = last + ".tmp." + std::to_string(::getpid());
  std::remove(temp.c_str());
  std::error_code ec;
  std::filesystem::create_hard_link(target, temp, ec);
  if (ec) std::filesystem::copy_file(target, temp, std::filesystem::copy_options::overwrite_existing);
  FLUXION_CHECK(std::rename(temp.c_str(), last.c_str()) == 0, last, ": cannot update");
}

void prune_checkpoints(const std::string& dir, int64_t keep) {
  if (keep <= 0) return;
  std::vector<std::filesystem::path> steps;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const auto name = entry.path().filename().string();
    if (name.compare(0, 5, "step-") == 0 && entry.path().extension() == ".safetensors") steps.push_back(entry.path());
  }
  std::sort(steps.begin(), steps.end());
  for (size_t i = 0; i + static_cast<size_t>(keep) < steps.size(); ++i) std::filesystem::remove(steps[i]);
}

}  // namespace fluxion::train
