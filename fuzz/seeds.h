#pragma once
// Small valid inputs for every fuzz target, written with fluxion's own writers. fuzz_make_seeds
// seeds the libFuzzer corpora with them; the default (gcc) test suite replays them through the
// targets' entry points (tests/test_fuzz_replay.cpp).
#include <string>

namespace fluxion::fuzz {

// Writes OUT/<target>/<seed> for every target, and copies the checked-in inputs of
// fuzz/corpus/<target>/ (torch.save files made by torch itself, past findings) beside them.
void write_seeds(const std::string& out);

}  // namespace fluxion::fuzz
