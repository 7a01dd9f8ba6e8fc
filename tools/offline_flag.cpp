#include "tools/offline_flag.h"

#include "metrics/weights_cache.h"

namespace fluxion::cli {

void add_offline_flag(CLI::App& sub) {
  // The flag sets the environment variable as soon as it is parsed, before the subcommand's
  // callback runs, so the library reads one setting whichever way it was given.
  sub.add_flag_callback(
      "--offline", [] { metrics::set_weights_offline(); },
      "never download weights; a network missing from the cache is an error (FLUXION_OFFLINE=1)");
}

}  // namespace fluxion::cli
