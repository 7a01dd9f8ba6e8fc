#pragma once
// Each fluxion subcommand lives in tools/cmd_<name>.cpp: it binds its options to a config struct
// and calls one library function. main.cpp only registers them.
#include <CLI/CLI.hpp>

#include <string>

namespace fluxion::cli {

void add_train(CLI::App& app);
void add_sample(CLI::App& app);
void add_finetune(CLI::App& app);
void add_stats(CLI::App& app);
void add_fid(CLI::App& app);
void add_eval(CLI::App& app);
void add_bench(CLI::App& app);
void add_inspect(CLI::App& app);
void add_launch(CLI::App& app);
void add_convert(CLI::App& app);
void add_encode(CLI::App& app);

// Thrown by subcommands that a later issue implements; main prints the message and exits 2.
struct NotImplemented {
  std::string message;
};

}  // namespace fluxion::cli
