// Subcommands whose capability a later issue brings. Each says so and exits with code 2.
// When an issue lands its command, it moves out of this file into its own cmd_<name>.cpp.
#include "tools/commands.h"

namespace fluxion::cli {

namespace {
void add_pending(CLI::App& app, const std::string& name, const std::string& description,
                 const std::string& issue) {
  auto* sub = app.add_subcommand(name, description + " (not yet implemented)");
  sub->allow_extras();
  sub->callback([name, issue] {
    throw NotImplemented{"'" + name + "' is not implemented yet (see issue " + issue + ")"};
  });
}
}  // namespace

void add_finetune(CLI::App& app) { add_pending(app, "finetune", "discriminator-guided RL finetuning", "#8"); }

}  // namespace fluxion::cli
