#pragma once
// metrics.jsonl of a run directory (one JSON object per logged step), shared by `fluxion train`
// and `fluxion finetune`.
#include <chrono>
#include <cstdint>
#include <string>

namespace fluxion::train {

// Keeps the lines up to `step` (a resumed run rewrites what came after its checkpoint); lines
// torn by a kill are dropped. Atomic; nothing happens when the file does not exist. Returns the
// `elapsed_s` of the last line kept (0 when there is none), where a resumed run's clock goes on.
double truncate_metrics(const std::string& path, int64_t step);

// The start of a run's clock as seen from now, when `elapsed_s` seconds already passed before a
// resume: elapsed_s in metrics.jsonl goes on from there.
std::chrono::steady_clock::time_point run_clock_start(std::chrono::steady_clock::time_point now, double elapsed_s);

}  // namespace fluxion::train
