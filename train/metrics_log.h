#pragma once
// metrics.jsonl of a run directory (one JSON object per logged step), shared by `fluxion train`
// and `fluxion finetune`.
#include <cstdint>
#include <string>

namespace fluxion::train {

// Keeps the lines up to `step` (a resumed run rewrites what came after its checkpoint); lines
// torn by a kill are dropped. Atomic; nothing happens when the file does not exist. Returns the
// `elapsed_s` of the last line kept (0 when there is none), where a resumed run's clock goes on.
double truncate_metrics(const std::string& path, int64_t step);

}  // namespace fluxion::train
