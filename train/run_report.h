#pragma once
// report.html of a run directory: one static file (inline SVG charts, a few lines of script for
// the grid slider) that shows what a TensorBoard or wandb user looks for:
//   - loss (raw and smoothed, log scale), learning rate, gradient norm, throughput and, when the
//     trainer logged it, memory, over steps with labelled axes (metrics.jsonl);
//   - evaluation metrics over steps, from metrics.jsonl lines with an "eval" object
//     ({"step": 2000, "eval": {"fd": 31.2, ...}});
//   - the sample grid of every grid step (samples/step-*.png) with a slider, the newest shown;
//   - the resolved config (config.json).
// Rewritten atomically, so a browser never reads half a file.
#include <string>

namespace fluxion::train {

void write_run_report(const std::string& run_dir);

}  // namespace fluxion::train
