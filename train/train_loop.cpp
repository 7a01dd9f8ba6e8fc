#include "train/train_loop.h"

#include <cmath>
#include <filesystem>

#include "core/compat.h"
#include "core/device_memory.h"
#include "core/error.h"
#include "core/log.h"
#include "core/rng.h"
#include "train/checkpoint_files.h"
#include "train/metrics_log.h"
#include "train/run_report.h"

namespace fluxion::train {

namespace fs = std::filesystem;

namespace {
// Seed streams derived from the run seed (the others: training_run.cpp).
constexpr uint64_t kStepStream = 1ull << 40;  // + step: noise, t and label dropout of that step

// Ranks other than 0 train silently: one progress line per job, not one per rank.
std::ostream* progress_stream(const TrainingRun& run) {
  static std::ostream silent(nullptr);
  return run.writer ? nullptr : &silent;
}
}  // namespace

TrainLoop::TrainLoop(TrainingRun& run)
    : run_(run),
      progress_("train", run.config.steps, "step", progress_stream(run)),
      skip_nonfinite_(run.config.on_nonfinite == "skip"),
      monitor_(run.device),
      pin_(run.device.is_cuda()),
      first_step_(run.step) {
  progress_.update(run_.step);
  run_.train_step->set_exact_skips(skip_nonfinite_);
  network_ = [this](const torch::Tensor& xt, const torch::Tensor& t, const torch::Tensor& labels) {
    return run_.model->forward(xt, t, labels);
  };
  graphed_ = std::make_unique<GraphedStep>(
      *run_.train_step,
      [this](const torch::Tensor& x, const objectives::LossDraws& draws) {
        compat::AutocastGuard autocast(run_.device.type(), run_.precision);
        return run_.objective->loss_on_draws(network_, x, draws);
      },
      run_.config.cuda_graphs);
  window_start_ = std::chrono::steady_clock::now();
  run_start_ = run_clock_start(window_start_, run.elapsed_before_s);
}

void TrainLoop::run() {
  const auto& config = run_.config;
  while (run_.step < config.steps) {
    const double lr = run_.schedule.at(run_.step);
    count_step(step_once(lr));
    if (due(config.log_every)) {
      stop_if_nonfinite();  // every rank sees the same averaged loss and norm: all stop together
      log_window(lr);
    }
    if (due(config.sample_every)) {
      stop_if_nonfinite();
      write_samples();
    }
    if (config.eval_every > 0 && due(config.eval_every)) {
      stop_if_nonfinite();
      evaluate();
    }
    if (due(config.ckpt_every)) {
      stop_if_nonfinite();
      if (run_.writer) result_.last_checkpoint = save_training_checkpoint(run_, run_.step);
    }
  }
}

std::pair<torch::Tensor, torch::Tensor> TrainLoop::next_batch() {
  auto batch = run_.data->next();
  auto images = pin_ ? batch.x.pin_memory() : batch.x;
  auto labels = pin_ ? batch.labels.pin_memory() : batch.labels;
  return {images.to(run_.device, /*non_blocking=*/true), labels.to(run_.device, /*non_blocking=*/true).clamp_min(0)};
}

StepStats TrainLoop::step_once(double lr) {
  const auto& config = run_.config;
  auto gen = core::make_generator(core::derive_seed(config.seed, kStepStream + run_.step), run_.device);
  torch::manual_seed(core::derive_seed(config.seed, 2 * kStepStream + run_.step));  // dropout inside models
  if (config.grad_accum == 1) {
    // the draws first, then the loss on them: the same draws and kernels as objective->loss
    const auto [x, y] = next_batch();
    return graphed_->run(x, run_.objective->draws(x, y, gen, run_.shard.global_size, run_.shard.begin), lr);
  }
  const auto step_loss = run_.train_step->backward(
      [&](int64_t) {
        const auto [x, y] = next_batch();
        compat::AutocastGuard autocast(run_.device.type(), run_.precision);
        return run_.objective->loss(network_, x, y, gen, run_.shard.global_size, run_.shard.begin);
      },
      config.grad_accum);
  return run_.train_step->apply(step_loss, lr);
}

void TrainLoop::count_step(const StepStats& stats) {
  ++run_.step;
  ++window_steps_;
  monitor_.add(run_.step, stats);
  if (skip_nonfinite_ && !stats.finite.item<bool>()) {
    ++skipped_;
    core::log_warn("skipped step " + std::to_string(run_.step) + ": non-finite loss (" +
                   std::to_string(stats.loss.item<double>()) + ") or gradient norm (" +
                   std::to_string(stats.grad_norm.item<double>()) + ")");
  }
  progress_.update(1, shown_loss_);
}

void TrainLoop::log_window(double lr) {
  const auto window = monitor_.take();
  const auto now = std::chrono::steady_clock::now();
  const double seconds = std::chrono::duration<double>(now - window_start_).count();
  const double ips = static_cast<double>(window_steps_ * run_.config.batch) / std::max(seconds, 1e-9);
  result_.final_loss = window.mean_loss;
  result_.images_per_second = ips;
  shown_loss_ = "loss " + std::to_string(window.mean_loss).substr(0, 7);
  if (run_.writer)
    core::append_jsonl(run_.paths.metrics_path,
                       {{"step", run_.step},
                        {"loss", window.mean_loss},
                        {"lr", lr},
                        {"grad_norm", window.mean_grad_norm},
                        {"images_per_s", ips},
                        {"memory_mb", core::peak_memory_mib(run_.device)},
                        {"skipped", skipped_},
                        {"elapsed_s", std::chrono::duration<double>(now - run_start_).count()}});
  window_steps_ = 0;
  window_start_ = std::chrono::steady_clock::now();
  core::reset_peak_memory(run_.device);
}

void TrainLoop::write_samples() {
  if (!run_.writer) return;
  if (run_.grid)
    run_.grid->write(run_.train_step->ema().weights(0), run_.paths.out + "/samples/" + step_tag(run_.step) + ".png");
  write_run_report(run_.paths.out);
}

void TrainLoop::evaluate() {
  if (!run_.eval) return;  // ranks other than 0
  const auto start = std::chrono::steady_clock::now();
  const double fd = run_.eval->fd(run_.train_step->ema().weights(0));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const std::string name =
      "fd (" + run_.eval->features() + ", " + std::to_string(run_.config.eval_samples) + " samples)";
  core::append_jsonl(run_.paths.metrics_path, {{"step", run_.step}, {"eval", {{name, fd}}}, {"eval_s", seconds}});
  core::log_info("step " + std::to_string(run_.step) + ": " + name + " " + std::to_string(fd) + " (" +
                 std::to_string(seconds).substr(0, 5) + " s)");
  write_run_report(run_.paths.out);
  // the evaluation's time is not the training's
  window_start_ +=
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(seconds));
}

void TrainLoop::stop_if_nonfinite() {
  if (skip_nonfinite_) return;
  const auto bad = monitor_.first_nonfinite();
  if (!bad) return;
  const std::string what = std::isfinite(bad->loss) ? "gradient norm (" + std::to_string(bad->grad_norm) + ", loss " +
                                                          std::to_string(bad->loss) + ")"
                                                    : "loss (" + std::to_string(bad->loss) + ")";
  const auto& last_path = run_.paths.last_path;
  const std::string kept =
      fs::exists(last_path) ? "the last good checkpoint is " + last_path : "no checkpoint was written before it";
  FLUXION_CHECK(false, "non-finite ", what, " at step ", bad->step, "; stopped, ", kept,
                " (use --on-nonfinite skip to skip such steps)");
}

TrainResult TrainLoop::finish() {
  // The job ends together, after rank 0's last checkpoint.
  if (run_.group) run_.group->barrier("final barrier");
  progress_.finish();
  result_.steps_done = run_.step;
  if (result_.last_checkpoint.empty()) result_.last_checkpoint = run_.paths.last_path;
  if (run_.step > first_step_)
    core::log_info("trained " + std::to_string(run_.step - first_step_) + " steps; checkpoint " +
                   result_.last_checkpoint);
  return result_;
}

}  // namespace fluxion::train
