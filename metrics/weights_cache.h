#pragma once
// Feature-network weights that fluxion fetches itself on first use, each pinned to a SHA-256:
//   inception  pytorch-fid's release file pt_inception-2015-12-05-6726825d.pth, converted in C++
//              (core/checkpoint_convert, as `fluxion convert --inception`) to
//              pt_inception-2015-12-05.safetensors;
//   dinov2     facebook/dinov2-large's model.safetensors on Hugging Face (a pinned revision), kept
//              as dinov2_vitl14.safetensors (transformers' names, which metrics/dinov2 reads).
// Everything lives in the cache folder the caller passes (metrics::default_cache_dir). Downloads
// are verified before they get their name (core/download); a source file put into the cache by
// hand (an air-gapped machine) is verified the same way before it is converted.
//
// Environment (the whole override surface, for mirrors, air-gapped machines and tests):
//   FLUXION_OFFLINE=1                 never download (the CLI's --offline sets it); a missing file
//                                     is a one-line error saying what to fetch, from where, to where
//   FLUXION_WEIGHTS_URL_BASE=URL      fetch URL/<download file> instead of the official address
//   FLUXION_WEIGHTS_SHA256_<NAME>=HEX pin HEX instead of the built-in digest (NAME: INCEPTION,
//                                     DINOV2), for a mirror that serves other bytes
#include <string>

namespace fluxion::metrics {

struct PinnedWeights {
  std::string name;            // "inception", "dinov2": the feature spec, and <NAME> above
  std::string cached_file;     // what the feature extractor loads
  std::string download_file;   // what is fetched, kept under this name in the cache until converted
  std::string url;             // the official address
  std::string sha256;          // the full digest of download_file
  bool inception_pth = false;  // download_file is pytorch-fid's .pth, converted to cached_file
};

// The pinned weights whose cached file has this name, nullptr for any other file.
const PinnedWeights* find_pinned_weights(const std::string& cached_file);

// FLUXION_OFFLINE set to anything but "", "0", "false", "no".
bool weights_offline();
// What --offline does: sets FLUXION_OFFLINE=1 for this process.
void set_weights_offline();

// Makes cache_dir/<cached_file> exist and returns its path: converts a verified source file that
// is already in the cache, or (unless offline) downloads, verifies and converts one. Throws one
// line for a wrong digest, a failed download, an unwritable cache, or offline with nothing cached.
std::string fetch_pinned_weights(const PinnedWeights& weights, const std::string& cache_dir);

}  // namespace fluxion::metrics
