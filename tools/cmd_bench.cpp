// fluxion bench --what block: forward+backward time of one SiT block for each attention kind
// and token count, with the ratio to the first kind.
#include <iostream>

#include "core/error.h"
#include "models/block_bench.h"
#include "tools/commands.h"

namespace fluxion::cli {

namespace {
struct BenchOptions {
  std::string what = "block";
  models::BlockBenchOptions block;
  std::string precision = "fp32";
};
}  // namespace

void add_bench(CLI::App& app) {
  auto* sub = app.add_subcommand("bench", "measure throughput");
  auto opts = std::make_shared<BenchOptions>();
  sub->add_option("--what", opts->what, "what to measure: block")->check(CLI::IsMember({"block"}));
  sub->add_option("--attention", opts->block.attentions, "attention kinds, e.g. softmax,linear")->delimiter(',');
  sub->add_option("--tokens", opts->block.tokens, "token counts, e.g. 256,1024,4096")->delimiter(',');
  sub->add_option("--device", opts->block.device, "cpu, cuda, cuda:1, ...");
  sub->add_option("--dim", opts->block.dim, "hidden size");
  sub->add_option("--heads", opts->block.heads, "attention heads");
  sub->add_option("--batch", opts->block.batch, "batch size");
  sub->add_option("--iterations", opts->block.iterations, "timed iterations");
  sub->add_option("--warmup", opts->block.warmup, "untimed iterations first");
  sub->add_option("--precision", opts->precision, "fp32 or bf16 (autocast)")
      ->check(CLI::IsMember({"fp32", "bf16"}));
  sub->callback([opts] {
    opts->block.bf16 = opts->precision == "bf16";
    std::cout << "block: dim " << opts->block.dim << ", heads " << opts->block.heads << ", batch "
              << opts->block.batch << ", device " << opts->block.device << ", " << opts->precision
              << ", forward+backward per iteration\n";
    std::cout << models::format_block_bench(models::bench_block(opts->block));
  });
}

}  // namespace fluxion::cli
