// fluxion convert IN.pt OUT.safetensors: an official PyTorch checkpoint (SiT's train.py or released
// .pt, JiT's .pth, any torch.save'd state dict; zip or legacy format) to safetensors, without
// Python and without running anything the file holds. The same output, byte for byte, as
// tools/convert_checkpoint.py (and, with --inception, tools/convert_inception.py); the rules are in
// core/checkpoint_convert.h.
#include <iostream>

#include "core/checkpoint_convert.h"
#include "models/zoo.h"
#include "tools/commands.h"

namespace fluxion::cli {

void add_convert(CLI::App& app) {
  auto options = std::make_shared<core::ConvertOptions>();
  auto* sub = app.add_subcommand("convert", "convert an official PyTorch checkpoint (.pt/.pth) to safetensors");
  sub->add_option("input", options->input, "torch.save file (.pt / .pth)")->required();
  sub->add_option("output", options->output, "safetensors file to write")->required();
  sub->add_option("--weights", options->weights,
                  "auto: the file's state dict or the first of ema, model, state_dict, model_ema (as "
                  "convert_checkpoint.py); ema: ema, model_ema, model_ema1; model: model, state_dict")
      ->capture_default_str();
  sub->add_option("--key", options->key, "take the state dict from this top-level entry");
  sub->add_option("--strip-prefix", options->strip_prefixes,
                  "remove this name prefix (module., _orig_mod., net. for JiT); repeatable")
      ->take_all()
      ->allow_extra_args(false);
  sub->add_option("--model", options->model, "zoo name to record in the metadata, e.g. SiT-XL/2");
  sub->add_flag("--inception", options->inception,
                "pytorch-fid's pt_inception-2015-12-05-6726825d.pth (as convert_inception.py)");
  sub->callback([options] {
    if (!options->model.empty()) models::zoo_config(options->model);  // an unknown name lists the known ones
    const auto summary = core::convert_torch_checkpoint(*options);
    for (const auto& note : summary.notes) std::cerr << "note: " << note << "\n";
    std::cout << "wrote " << summary.tensors << " tensors (" << summary.values << " values) to " << options->output;
    if (!summary.source_key.empty()) std::cout << " from entry '" << summary.source_key << "'";
    std::cout << " (" << summary.format << " format)\n";
  });
}

}  // namespace fluxion::cli
