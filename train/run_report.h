#pragma once
// report.html of a run directory: the loss curve (inline SVG, log scale) from metrics.jsonl and
// the sample grids, newest first. Self-contained, no scripts; rewritten atomically.
#include <string>

namespace fluxion::train {

void write_run_report(const std::string& run_dir);

}  // namespace fluxion::train
