// fluxion: one binary for training, sampling and evaluating flow-matching and diffusion models.
#include "core/openmp_wait.h"
#include <torch/torch.h>

#include <iostream>

#include "core/compat.h"
#include "core/crash_report.h"
#include "core/device.h"
#include "core/error.h"
#include "models/fused_kernels.h"
#include "tools/commands.h"
#include "train/distributed.h"

namespace {
// Scripts ask this before `fluxion launch` (tools/run_default.sh): a build without Gloo cannot
// run CPU ranks.
std::string data_parallel_backends() {
  std::string backends;
  if (fluxion::train::distributed_backend_available(torch::Device(torch::kCPU))) backends += "gloo";
  if (fluxion::train::distributed_backend_available(torch::Device(torch::kCUDA, 0)))
    backends += backends.empty() ? "nccl" : ", nccl";
  return backends.empty() ? "none" : backends;
}

std::string version_text() {
  return fluxion::concat(
      "fluxion ", FLUXION_VERSION, " (LibTorch ", fluxion::compat::torch_version(), ", CUDA ",
      torch::cuda::is_available()
          ? fluxion::concat("available, ", static_cast<int>(torch::cuda::device_count()), " device(s)")
          : std::string("not available"),
      "; data parallel: ", data_parallel_backends(), "; fused CUDA kernels: ", fluxion::models::fused_kernels_status(),
      ")");
}
}  // namespace

int main(int argc, char** argv) {
  fluxion::core::restart_with_passive_openmp(argv);
  fluxion::core::report_crashes();
  fluxion::core::configure_cpu_threads();
  CLI::App app{"fluxion: train, sample and evaluate flow-matching and diffusion image generators"};
  app.require_subcommand(1);
  app.set_version_flag("--version", version_text);
  fluxion::cli::add_train(app);
  fluxion::cli::add_sample(app);
  fluxion::cli::add_finetune(app);
  fluxion::cli::add_stats(app);
  fluxion::cli::add_fid(app);
  fluxion::cli::add_eval(app);
  fluxion::cli::add_bench(app);
  fluxion::cli::add_inspect(app);
  fluxion::cli::add_launch(app);
  fluxion::cli::add_convert(app);
  fluxion::cli::add_encode(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const fluxion::cli::NotImplemented& e) {
    std::cerr << "fluxion: " << e.message << "\n";
    return 2;
  } catch (const fluxion::Error& e) {
    std::cerr << "fluxion: error: " << e.what() << "\n";
    return 1;
  } catch (const c10::Error& e) {
    // Torch messages carry a backtrace; the first line is the useful one.
    const std::string what = e.what_without_backtrace();
    std::cerr << "fluxion: error: " << what.substr(0, what.find('\n')) << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "fluxion: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
