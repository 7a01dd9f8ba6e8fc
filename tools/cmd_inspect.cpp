// fluxion inspect FILE: lists every tensor or array of a .safetensors, .npz or .npy file with its
// dtype and shape, and the file's metadata.
#include <iostream>

#include "core/inspect.h"
#include "tools/commands.h"

namespace fluxion::cli {

void add_inspect(CLI::App& app) {
  auto* sub = app.add_subcommand("inspect", "list the tensors of a .safetensors, .npz or .npy file");
  auto file = std::make_shared<std::string>();
  sub->add_option("file", *file, "a .safetensors, .npz or .npy file")->required();
  sub->callback([file] { core::inspect_file(*file, std::cout); });
}

}  // namespace fluxion::cli
