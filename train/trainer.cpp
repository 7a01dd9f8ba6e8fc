#include "train/trainer.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <functional>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/compat.h"
#include "core/device.h"
#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/rng.h"
#include "models/sit.h"
#include "models/zoo.h"
#include "objectives/checkpoint.h"
#include "objectives/objective_config.h"
#include "train/checkpoint_files.h"
#include "train/metrics_log.h"
#include "train/distributed.h"
#include "train/lr_schedule.h"
#include "train/run_report.h"
#include "train/sample_grid.h"
#include "train/step_monitor.h"
#include "train/train_step.h"
#include "train/training_data.h"

namespace fluxion::train {

namespace fs = std::filesystem;

namespace {

// Seed streams derived from the run seed, one per purpose.
constexpr uint64_t kStepStream = 1ull << 40;   // + step: noise, t and label dropout of that step
constexpr uint64_t kGridStream = 7;            // fixed grid noise
constexpr uint64_t kInitStream = 8;            // weight initialisation


}  // namespace

TrainResult run_training(TrainConfig config, bool resume, const std::string& config_toml) {
  const std::string out = config.out;
  const std::string ckpt_dir = out + "/checkpoints";
  const std::string last_path = ckpt_dir + "/last.safetensors";
  const std::string metrics_path = out + "/metrics.jsonl";

  std::optional<objectives::Checkpoint> checkpoint;
  if (resume) {
    FLUXION_CHECK(fs::exists(last_path), out, ": nothing to resume (no checkpoints/last.safetensors)");
    checkpoint = objectives::load_checkpoint(last_path);
    auto resumed = train_config_from_json(nlohmann::json::parse(checkpoint->train_config));
    // A resumed run keeps its recipe; only the length (when given), the place and the device
    // may change. steps <= 0 means "as the checkpoint says".
    if (config.steps > 0) resumed.steps = config.steps;
    resumed.out = config.out;
    resumed.device = config.device;
    config = resumed;
  } else {
    FLUXION_CHECK(!fs::exists(last_path), out,
                  " already holds a run (checkpoints/last.safetensors); pass --resume to continue it "
                  "or choose another --out");
  }
  config.validate();

  // Data parallel when launched with WORLD_SIZE > 1 (fluxion launch, torchrun, srun): every rank
  // runs this function; rank r trains on its slice of each global batch and the gradients are
  // averaged, so N ranks with --batch B step as one process with --batch B. Rank 0 alone writes.
  const auto dist_env = dist_env_from_environment();
  auto device = core::resolve_device(config.device);
  if (dist_env.enabled() && device.is_cuda() && !device.has_index())
    device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(dist_env.local_rank));
  const bool writer = dist_env.rank == 0;
  std::unique_ptr<ProcessGroup> group;
  if (dist_env.enabled()) {
    FLUXION_CHECK(config.batch % (config.grad_accum * dist_env.world_size) == 0, "--batch ", config.batch,
                  " must divide by --grad-accum (", config.grad_accum, ") times the number of ranks (",
                  dist_env.world_size, ")");
    if (!writer && !std::getenv("FLUXION_LOG")) core::set_log_level(core::LogLevel::warn);
    group = std::make_unique<ProcessGroup>(dist_env, device);
    core::log_info("distributed: " + std::to_string(dist_env.world_size) + " ranks (" + dist_env.source +
                   "), global batch " + std::to_string(config.batch) + ", " +
                   std::to_string(config.batch / dist_env.world_size) + " per rank");
  }
  const auto precision = core::resolve_precision(config.precision, device);
  const int64_t micro_batch = config.batch / config.grad_accum;
  auto data = open_training_data(config, micro_batch, config.seed);
  core::log_info("data: " + data->describe());

  models::ModelOverrides overrides;
  overrides.attention = config.attention;
  overrides.image_size = data->side();
  overrides.channels = data->channels();
  overrides.num_classes = std::max<int64_t>(data->num_classes(), 1);
  const auto model_config = models::zoo_config(config.model, overrides);
  // LibTorch seeds its global generator non-deterministically; the initialisation is seeded.
  torch::manual_seed(core::derive_seed(config.seed, kInitStream));
  auto model = models::build_model(model_config);
  model->to(device);
  model->train();
  // Labels are dropped by the objective, from the step's seeded generator; SiT's embedder would
  // drop them a second time in train mode. Its null row stays (the config's probability is > 0).
  if (auto* sit = dynamic_cast<models::SiT*>(model.get())) sit->y_embedder->dropout_prob = 0.0;
  const int64_t null_label = model->num_classes();
  core::log_info("model: " + config.model + ", " + std::to_string(model->parameter_count()) +
                 " parameters, on " + core::device_summary(device) +
                 (precision == torch::kBFloat16 ? ", bf16 autocast" : ", fp32"));

  TrainStep train_step(*model, config);
  auto& optimizer = train_step.optimizer();
  auto& ema = train_step.ema();
  LrSchedule schedule{config.lr, config.warmup, config.lr_schedule, config.steps, config.final_lr};
  schedule.validate();
  // The objective (flow matching, or Dale's multiplicative score matching), with its state: Dale's
  // prior, fitted on the data for a new run, the checkpoint's for a resumed one.
  const auto objective = objectives::make_objective(config.objective, null_label);
  if (checkpoint) {
    objective->load_state(checkpoint->objective);
  } else if (data->images()) {
    objective->fit_state(*data->images(), static_cast<int>(config.data_threads));
  } else {
    FLUXION_CHECK(config.objective.name == "flow", "the ", config.objective.name,
                  " objective trains on images, not on latents (", config.data, ")");
  }
  core::log_info("objective: " + objective->describe());
  // Every rank walks the same global order; position() and the step stay global, so a checkpoint
  // written by N ranks resumes with M.
  const auto shard = batch_shard(micro_batch, dist_env.rank, dist_env.world_size);
  if (group) data->set_shard(dist_env.rank, dist_env.world_size);

  int64_t step = 0;
  if (checkpoint) {
    model->load_state(checkpoint->model, last_path);
    optimizer.load_state(checkpoint->optimizer, last_path);
    FLUXION_CHECK(checkpoint->emas.size() == config.ema_decays.size(), last_path,
                  ": EMA count differs from the config");
    for (size_t i = 0; i < checkpoint->emas.size(); ++i) ema.load(i, checkpoint->emas[i], last_path);
    step = checkpoint->step;
    data->set_position(checkpoint->data_position);
    if (writer) truncate_metrics(metrics_path, step);
    core::log_info("resumed " + out + " at step " + std::to_string(step));
  } else if (writer) {
    core::ensure_directory(ckpt_dir);
    const std::string resolved = to_json(config).dump(2);
    core::write_file_atomically(out + "/config.json", [&](std::ostream& o) { o << resolved << "\n"; });
    if (!config_toml.empty())
      core::write_file_atomically(out + "/config.toml", [&](std::ostream& o) { o << config_toml; });
  }

  std::unique_ptr<GradientSync> gradient_sync;
  if (group) {
    // Rank 0's weights everywhere (they agree already: same seed or the same checkpoint), then
    // gradients averaged in buckets during backward.
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> state;
    for (const auto& p : model->named_parameters(true)) state.push_back(p.value());
    for (const auto& b : model->named_buffers(true)) state.push_back(b.value());
    group->broadcast(state, 0, "initial weight broadcast");
    std::vector<torch::Tensor> trainable;
    for (const auto& [name, t] : train_step.trainable()) trainable.push_back(t);
    gradient_sync = std::make_unique<GradientSync>(*group, trainable, dist_env.bucket_bytes);
    train_step.set_gradient_sync(gradient_sync.get());
    core::log_info("distributed: gradients averaged in " + std::to_string(gradient_sync->bucket_count()) +
                   " bucket(s) during backward");
  }
  std::unique_ptr<SampleGrid> grid;  // rank 0 writes the grids
  if (writer)
    grid = std::make_unique<SampleGrid>(model_config, config, *objective, data->num_classes(), device,
                                        core::derive_seed(config.seed, kGridStream), data->latent_vae());
  const std::string train_config_json = to_json(config).dump();
  const std::string model_config_json = models::config_to_json(model_config);

  auto save = [&](int64_t at_step) {
    objectives::Checkpoint c;
    c.model = model->state_dict();
    for (size_t i = 0; i < config.ema_decays.size(); ++i) c.emas.push_back(ema.weights(i));
    c.ema_decays = config.ema_decays;
    c.optimizer = optimizer.state();
    c.objective = objective->state();
    c.step = at_step;
    c.data_position = data->position();
    c.model_config = model_config_json;
    c.train_config = train_config_json;
    const std::string path = ckpt_dir + "/" + checkpoint_name(at_step);
    try {
      objectives::save_checkpoint(path, c);
      update_last_link(path, last_path);
    } catch (const std::exception& e) {
      // A full disk or a read-only folder: the writes are atomic, so the previous checkpoint is
      // intact; the one line says where it is.
      fail("checkpoint of step ", at_step, " not written (", e.what(), "); stopped, ",
           fs::exists(last_path) ? "the last good checkpoint is " + last_path : "no checkpoint was written before it");
    }
    prune_checkpoints(ckpt_dir, config.keep_checkpoints);
    return path;
  };

  TrainResult result;
  core::Progress progress("train", config.steps, "step");
  progress.update(step);
  // Per-step figures stay on the device (StepMonitor); the host reads them at log, grid and
  // checkpoint steps, so a CUDA step never waits for the GPU. --on-nonfinite skip reads each
  // step's flag instead, to leave the EMA alone on a skipped step and to say which step it was.
  const bool skip_nonfinite = config.on_nonfinite == "skip";
  train_step.set_exact_skips(skip_nonfinite);
  StepMonitor monitor(device);
  int64_t window_steps = 0, skipped = 0;
  std::string shown_loss;
  auto window_start = std::chrono::steady_clock::now();
  const auto run_start = window_start;
  const int64_t first_step = step;
  // A non-finite step stops the run before anything after it is logged or written.
  auto stop_if_nonfinite = [&] {
    if (skip_nonfinite) return;
    const auto bad = monitor.first_nonfinite();
    if (!bad) return;
    const std::string what = std::isfinite(bad->loss)
                                 ? "gradient norm (" + std::to_string(bad->grad_norm) + ", loss " +
                                       std::to_string(bad->loss) + ")"
                                 : "loss (" + std::to_string(bad->loss) + ")";
    const std::string kept = fs::exists(last_path) ? "the last good checkpoint is " + last_path
                                                   : "no checkpoint was written before it";
    FLUXION_CHECK(false, "non-finite ", what, " at step ", bad->step, "; stopped, ", kept,
                  " (use --on-nonfinite skip to skip such steps)");
  };
  const bool pin = device.is_cuda();  // page-locked batches copy without waiting for the GPU

  while (step < config.steps) {
    auto gen = core::make_generator(core::derive_seed(config.seed, kStepStream + step), device);
    torch::manual_seed(core::derive_seed(config.seed, 2 * kStepStream + step));  // dropout inside models
    const auto step_loss = train_step.backward(
        [&](int64_t) {
          auto batch = data->next();
          auto images = pin ? batch.x.pin_memory() : batch.x;
          auto labels = pin ? batch.labels.pin_memory() : batch.labels;
          auto x = images.to(device, /*non_blocking=*/true);
          auto y = labels.to(device, /*non_blocking=*/true).clamp_min(0);
          compat::AutocastGuard autocast(device.type(), precision);
          return objective->loss(
              [&](const torch::Tensor& xt, const torch::Tensor& t, const torch::Tensor& labels) {
                return model->forward(xt, t, labels);
              },
              x, y, gen, shard.global_size, shard.begin);
        },
        config.grad_accum);
    const double lr = schedule.at(step);
    const auto stats = train_step.apply(step_loss, lr);
    ++step;
    ++window_steps;
    monitor.add(step, stats);
    if (skip_nonfinite && !stats.finite.item<bool>()) {
      ++skipped;
      core::log_warn("skipped step " + std::to_string(step) + ": non-finite loss (" +
                     std::to_string(stats.loss.item<double>()) + ") or gradient norm (" +
                     std::to_string(stats.grad_norm.item<double>()) + ")");
    }
    progress.update(1, shown_loss);

    if (step % config.log_every == 0 || step == config.steps) {
      stop_if_nonfinite();  // every rank sees the same averaged loss and norm: all stop together
      const auto window = monitor.take();
      const auto now = std::chrono::steady_clock::now();
      const double seconds = std::chrono::duration<double>(now - window_start).count();
      const double ips = static_cast<double>(window_steps * config.batch) / std::max(seconds, 1e-9);
      result.final_loss = window.mean_loss;
      result.images_per_second = ips;
      shown_loss = "loss " + std::to_string(window.mean_loss).substr(0, 7);
      if (writer)
        core::append_jsonl(metrics_path, {{"step", step},
                                        {"loss", window.mean_loss},
                                        {"lr", lr},
                                        {"grad_norm", window.mean_grad_norm},
                                        {"images_per_s", ips},
                                        {"skipped", skipped},
                                        {"elapsed_s", std::chrono::duration<double>(now - run_start).count()}});
      window_steps = 0;
      window_start = std::chrono::steady_clock::now();
    }
    if (step % config.sample_every == 0 || step == config.steps) {
      stop_if_nonfinite();
      if (writer && config.grid_images > 0)
        grid->write(ema.weights(0), out + "/samples/" + step_tag(step) + ".png");
      if (writer) write_run_report(out);
    }
    if (step % config.ckpt_every == 0 || step == config.steps) stop_if_nonfinite();
    if (writer && (step % config.ckpt_every == 0 || step == config.steps)) result.last_checkpoint = save(step);
  }
  // The job ends together, after rank 0's last checkpoint.
  if (group) group->barrier("final barrier");
  progress.finish();
  result.steps_done = step;
  if (result.last_checkpoint.empty()) result.last_checkpoint = last_path;
  if (step > first_step)
    core::log_info("trained " + std::to_string(step - first_step) + " steps; checkpoint " +
                   result.last_checkpoint);
  return result;
}

}  // namespace fluxion::train
