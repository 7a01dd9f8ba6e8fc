// fluxion inspect FILE: lists every tensor or array of a .safetensors, .npz or .npy file with its
// dtype and shape, and the file's metadata.
// fluxion inspect --model NAME [--attention K] [--image-size N] [--channels C] [--num-classes K]:
// prints the resolved zoo config and its parameter count.
#include <iostream>

#include "core/error.h"
#include "core/inspect.h"
#include "models/zoo.h"
#include "tools/commands.h"

namespace fluxion::cli {

namespace {
struct InspectOptions {
  std::string file;
  std::string model;
  models::ModelOverrides overrides;
};
}  // namespace

void add_inspect(CLI::App& app) {
  auto* sub =
      app.add_subcommand("inspect", "list the tensors of a .safetensors, .npz or .npy file, or describe a zoo model");
  auto opts = std::make_shared<InspectOptions>();
  sub->add_option("file", opts->file, "a .safetensors, .npz or .npy file");
  sub->add_option("--model", opts->model, "a zoo name, e.g. SiT-XL/2, JiT-B/16, SiT-T/2");
  sub->add_option("--attention", opts->overrides.attention, "softmax | gated | gated-headwise | linear");
  sub->add_option("--image-size", opts->overrides.image_size, "input height = width");
  sub->add_option("--channels", opts->overrides.channels, "input channels");
  sub->add_option("--num-classes", opts->overrides.num_classes, "number of classes");
  sub->callback([opts] {
    FLUXION_CHECK(opts->file.empty() != opts->model.empty(),
                  "inspect: give either a FILE or --model NAME (exactly one)");
    if (!opts->file.empty()) {
      core::inspect_file(opts->file, std::cout);
      return;
    }
    std::cout << models::describe(models::zoo_config(opts->model, opts->overrides));
  });
}

}  // namespace fluxion::cli
