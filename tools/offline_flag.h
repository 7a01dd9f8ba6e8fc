#pragma once
// --offline for the subcommands that load feature networks (stats, fid, eval): the same as
// FLUXION_OFFLINE=1, so weights missing from the cache are an error instead of a download.
#include <CLI/CLI.hpp>

namespace fluxion::cli {

void add_offline_flag(CLI::App& sub);

}  // namespace fluxion::cli
