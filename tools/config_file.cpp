#include "tools/config_file.h"

#include <filesystem>
#include <sstream>

#include "core/error.h"

namespace fluxion::cli {

void add_config_option(CLI::App& sub, std::string& path, const std::string& description) {
  sub.add_option("--config", path, description);
}

namespace {
// A recipe file may hold sections for several commands ([train], [sample], [eval]); each command
// reads the top level and its own section and leaves the others to their commands.
bool is_sibling_command(const CLI::App& sub, const std::string& name) {
  const CLI::App* parent = sub.get_parent();
  if (parent == nullptr) return false;
  for (const CLI::App* other : parent->get_subcommands([](const CLI::App*) { return true; }))
    if (other->get_name() == name) return true;
  return false;
}
}  // namespace

void apply_config_file(CLI::App& sub, const std::string& path) {
  if (path.empty()) return;
  FLUXION_CHECK(std::filesystem::is_regular_file(path), path, ": config file not found");
  std::vector<CLI::ConfigItem> items;
  try {
    items = CLI::ConfigTOML().from_file(path);
  } catch (const CLI::Error& e) {
    FLUXION_CHECK(false, path, ": not a valid TOML config: ", e.what());
  }
  for (const auto& item : items) {
    const bool own_section = item.parents.empty() || (item.parents.size() == 1 && item.parents[0] == sub.get_name());
    if (item.name == "++" || item.name == "--") continue;  // section markers
    if (!own_section && item.parents.size() == 1 && is_sibling_command(sub, item.parents[0])) continue;
    FLUXION_CHECK(own_section, path, ": section [", CLI::detail::join(item.parents, "."), "] is not `", sub.get_name(),
                  "`");
    if (item.name == "config") continue;
    CLI::Option* option = sub.get_option_no_throw("--" + item.name);
    FLUXION_CHECK(option != nullptr, path, ": unknown option '", item.name, "' (fluxion ", sub.get_name(),
                  " --help lists them)");
    if (option->count() > 0) continue;  // the command line wins
    try {
      option->add_result(item.inputs);
      option->run_callback();
    } catch (const CLI::Error& e) {
      FLUXION_CHECK(false, path, ": option '", item.name, "': ", e.what());
    }
  }
}

std::string resolved_config_toml(const CLI::App& sub) {
  std::istringstream all(sub.config_to_str(/*default_also=*/true, /*write_description=*/false));
  std::string kept, line;
  while (std::getline(all, line))
    if (line.rfind("config=", 0) != 0) kept += line + "\n";
  return kept;
}

}  // namespace fluxion::cli
