#pragma once
// Official PyTorch checkpoints (.pt / .pth) to safetensors, in C++: what tools/convert_checkpoint.py
// and tools/convert_inception.py do, byte for byte the same output for the same choice of weights.
//
// Which state dict (a non-empty dict of str -> tensor):
//   weights "auto" (default, as convert_checkpoint.py): the file itself if it is one, else the
//     first of its entries "ema", "model", "state_dict", "model_ema" that is one;
//   weights "ema": the first of "ema", "model_ema", "model_ema1" (JiT keeps its EMAs there);
//   weights "model": the first of "model", "state_dict";
//   key K: entry K exactly.
// A bare state dict is taken as it is whatever `weights` says. Prefixes such as "module." (DDP) or
// "_orig_mod." (torch.compile) are removed only when asked, in the order given; JiT's official
// files hold the denoiser, whose backbone names start with "net.".
//
// The file is read by core/torch_checkpoint, which executes nothing. Any Python object other than
// tensors and plain containers (dict, OrderedDict, list, tuple, str, int, float, bool, None) is
// refused, naming its class, where the conversion needs it: the top level, the entries it
// inspects to choose the state dict, and the state dict itself. Elsewhere (the argparse.Namespace
// under "args" of SiT's train.py, numpy scalars in an optimizer's state) it is an inert
// placeholder that is never looked at; nothing of it is constructed or run.
//
// Metadata: {"source": basename of the input, "format": "pt", "source_key": the entry used (when
// there was one), "model": the zoo name given}; Inception: {"source", "format": "pytorch-fid
// InceptionV3"}. The output is written atomically: a failed conversion leaves an existing OUT as
// it was.
#include <cstdint>
#include <string>
#include <vector>

namespace fluxion::core {

struct ConvertOptions {
  std::string input;
  std::string output;
  std::string weights = "auto";  // auto | ema | model
  std::string key;               // explicit entry; excludes weights other than auto
  std::vector<std::string> strip_prefixes;
  std::string model;       // zoo name recorded in the metadata (the caller validates it)
  bool inception = false;  // pytorch-fid's FID Inception weights (tools/convert_inception.py)
};

struct ConvertSummary {
  int64_t tensors = 0;
  int64_t values = 0;
  std::string source_key;          // the entry the state dict came from, "" for a bare one
  std::string format;              // "zip" or "legacy"
  std::vector<std::string> notes;  // e.g. EMA weights that were present but not chosen
};

ConvertSummary convert_torch_checkpoint(const ConvertOptions& options);

}  // namespace fluxion::core
