#pragma once
// `--config F.toml` for a subcommand. CLI11 2.1 (Debian 12) silently ignores set_config() on a
// subcommand, so `fluxion train --config sit.toml` used to train with the defaults; fluxion reads
// the file itself: every key must name one of the subcommand's options (a `[train]`-style section
// naming the subcommand is accepted too; sections naming other subcommands, e.g. `[sample]` in a
// recipe, are left to them), and a value applies unless the option was given on the command line.
#include <CLI/CLI.hpp>

#include <string>

namespace fluxion::cli {

// Registers `--config FILE` on `sub`, storing the path in `path`.
void add_config_option(CLI::App& sub, std::string& path, const std::string& description);

// Applies the file's values to the options not given on the command line; throws fluxion::Error
// naming the file for a missing file, a syntax error or an unknown key. A no-op for "".
void apply_config_file(CLI::App& sub, const std::string& path);

// The subcommand's resolved options as TOML (what `--config` reads back), without `config`.
std::string resolved_config_toml(const CLI::App& sub);

}  // namespace fluxion::cli
