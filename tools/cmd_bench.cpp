// fluxion bench --what block: forward+backward time of one SiT block for each attention kind
// and token count, with the ratio to the first kind; --what train|sample|decode: throughput of a
// training step, a sampler or the SD-VAE decoder (tools/bench_throughput.h).
#include <iostream>

#include "core/error.h"
#include "tools/bench_block.h"
#include "tools/bench_throughput.h"
#include "tools/cli_options.h"
#include "tools/commands.h"

namespace fluxion::cli {

namespace {
struct BenchOptions {
  std::string what = "block";
  BlockBenchOptions block;
  std::string precision = "fp32";
  ThroughputOptions throughput;
};
}  // namespace

void add_bench(CLI::App& app) {
  auto* sub = app.add_subcommand("bench", "measure throughput");
  auto opts = std::make_shared<BenchOptions>();
  sub->add_option("--what", opts->what, "block | train | sample | decode (the SD-VAE decoder)")
      ->check(CLI::IsMember({"block", "train", "sample", "decode"}));
  auto& t = opts->throughput;
  sub->add_option("--model", t.model, "train/sample: zoo model")->capture_default_str();
  sub->add_option("--image-size", t.image_size, "train/sample: input size (0: the zoo's)");
  sub->add_option("--channels", t.channels, "train/sample: input channels (0: the zoo's)");
  add_sampler_option(*sub, "--sampler", t.sampler, "--what sample");
  add_sampler_steps_option(*sub, "--steps", t.steps, "--what sample");
  add_cfg_option(*sub, "--cfg", t.cfg, "--what sample");
  add_cuda_graphs_option(*sub, t.cuda_graphs,
                         "the sampler's network (--what sample) or the training step (--what train)");
  sub->add_option("--latent-size", t.latent_size, "decode: latent side (32: 256-px images)")->capture_default_str();
  sub->add_option("--attention", opts->block.attentions,
                  "attention kinds, e.g. none,softmax,linear (none: the block without token mixing, the floor)")
      ->delimiter(',');
  sub->add_option("--tokens", opts->block.tokens, "token counts, e.g. 256,1024,4096")->delimiter(',');
  sub->add_option("--device", opts->block.device, "cpu, cuda, cuda:1, ...");
  sub->add_option("--dim", opts->block.dim, "hidden size");
  sub->add_option("--heads", opts->block.heads, "attention heads");
  sub->add_option("--batch", opts->block.batch, "batch size");
  sub->add_option("--iterations", opts->block.iterations, "timed iterations");
  sub->add_option("--warmup", opts->block.warmup, "untimed iterations first");
  sub->add_option(
      "--profile", opts->throughput.profile,
      "write a Chrome trace (Kineto) of extra iterations after the timed ones (block: one file per kind and "
      "token count, e.g. trace.linear-4096.json)");
  sub->add_option("--profile-iterations", opts->throughput.profile_iterations, "iterations in the --profile trace")
      ->capture_default_str();
  sub->add_option("--peak-tflops", t.peak_tflops,
                  "train/sample: peak TFLOP/s for MFU (0: the bf16 dense peak of H100/H200, A100, B200)");
  sub->add_option("--precision", opts->precision, "fp32 or bf16 (autocast)")->check(CLI::IsMember({"fp32", "bf16"}));
  sub->callback([opts] {
    FLUXION_CHECK(opts->throughput.profile_iterations > 0, "bench: --profile-iterations ",
                  opts->throughput.profile_iterations, " must be positive");
    if (opts->what != "block") {
      auto t = opts->throughput;
      t.attention = opts->block.attentions.empty() ? "softmax" : opts->block.attentions.front();
      t.device = opts->block.device;
      t.batch = opts->block.batch;
      t.precision = opts->precision;
      t.iterations = opts->block.iterations;
      t.warmup = opts->block.warmup;
      const auto r = opts->what == "train"    ? bench_train(t)
                     : opts->what == "sample" ? bench_sample(t)
                                              : bench_decode(t);
      std::cout << opts->what << ": " << r.description << ", " << r.parameters << " parameters\n"
                << "  " << r.images_per_second << " images/s, " << r.seconds_per_iteration * 1e3 << " ms per "
                << (opts->what == "train" ? "step" : "batch");
      if (r.nfe > 0) std::cout << ", " << r.nfe << " NFE";
      std::cout << "\n";
      if (r.flops_per_image > 0) {
        const double achieved = r.flops_per_image * r.images_per_second;
        std::cout << "  " << achieved / 1e12 << " TFLOP/s of model FLOPs (" << r.flops_per_image / 1e9
                  << " GFLOP per image)";
        if (r.peak_flops > 0)
          std::cout << ", MFU " << 100.0 * achieved / r.peak_flops << "% of " << r.peak_flops / 1e12 << " TFLOP/s";
        std::cout << "\n";
      }
      if (!t.profile.empty())
        std::cout << "  profile of " << t.profile_iterations << " more iterations: " << t.profile << "\n";
      return;
    }
    opts->block.bf16 = opts->precision == "bf16";
    opts->block.profile = opts->throughput.profile;
    opts->block.profile_iterations = opts->throughput.profile_iterations;
    const auto rows = bench_block(opts->block);  // before any output: a bad option is the only line printed
    std::cout << "block: dim " << opts->block.dim << ", heads " << opts->block.heads << ", batch " << opts->block.batch
              << ", device " << opts->block.device << ", " << opts->precision << ", forward+backward per iteration\n";
    std::cout << format_block_bench(rows);
    for (const auto& row : rows)
      if (!row.profile.empty())
        std::cout << "  profile of " << opts->block.profile_iterations << " more iterations: " << row.profile << "\n";
  });
}

}  // namespace fluxion::cli
