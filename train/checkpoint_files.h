#pragma once
// The checkpoints/ folder of a run directory: step-numbered files, `last` pointing at the newest,
// and the oldest pruned. The format of each file is objectives/checkpoint.h.
#include <cstdint>
#include <string>

namespace fluxion::train {

// checkpoints/step-0001000.safetensors
std::string checkpoint_name(int64_t step);
// step-0001000: the name's stem, for the files of that step (samples/step-0001000.png)
std::string step_tag(int64_t step);
// Atomically points `last` at `target` (a hard link renamed into place; a copy where links fail).
void update_last_link(const std::string& target, const std::string& last);
// Deletes the oldest step-*.safetensors of `dir` beyond `keep` (0 keeps all).
void prune_checkpoints(const std::string& dir, int64_t keep);

}  // namespace fluxion::train
