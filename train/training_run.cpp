// Setup of a training run: devices and ranks, data, model, optimizer, objective, run directory,
// gradient sync and the sample grid, in this order (the order fixes the seeded initialisation and
// the log lines).
#include "train/training_run.h"

#include <cstdlib>

#include "core/atomic_file.h"
#include "core/device.h"
#include "core/error.h"
#include "core/log.h"
#include "core/rng.h"
#include "models/sit.h"
#include "objectives/objective_config.h"

namespace fluxion::train {

namespace {

// Seed streams derived from the run seed, one per purpose (the per-step ones: train_loop.cpp).
constexpr uint64_t kGridStream = 7;  // fixed grid noise
constexpr uint64_t kInitStream = 8;  // weight initialisation

// Data parallel when launched with WORLD_SIZE > 1 (fluxion launch, torchrun, srun): every rank
// runs run_training; rank r trains on its slice of each global batch and the gradients are
// averaged, so N ranks with --batch B step as one process with --batch B. Rank 0 alone writes.
void join_ranks(TrainingRun& run) {
  const auto& config = run.config;
  run.dist_env = dist_env_from_environment();
  const auto& env = run.dist_env;
  run.device = core::resolve_device(config.device);
  if (env.enabled() && run.device.is_cuda() && !run.device.has_index())
    run.device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(env.local_rank));
  run.writer = env.rank == 0;
  if (env.enabled()) {
    FLUXION_CHECK(config.batch % (config.grad_accum * env.world_size) == 0, "--batch ", config.batch,
                  " must divide by --grad-accum (", config.grad_accum, ") times the number of ranks (", env.world_size,
                  ")");
    if (!run.writer && !std::getenv("FLUXION_LOG")) core::set_log_level(core::LogLevel::warn);
    run.group = std::make_unique<ProcessGroup>(env, run.device);
    core::log_info("distributed: " + std::to_string(env.world_size) + " ranks (" + env.source + "), global batch " +
                   std::to_string(config.batch) + ", " + std::to_string(config.batch / env.world_size) + " per rank");
  }
}

// The zoo model at the data's size, channels and classes, seeded, on the device in train mode.
void build_backbone(TrainingRun& run) {
  const auto& config = run.config;
  models::ModelOverrides overrides;
  overrides.attention = config.attention;
  overrides.image_size = run.data->side();
  overrides.channels = run.data->channels();
  overrides.num_classes = std::max<int64_t>(run.data->num_classes(), 1);
  run.model_config = models::zoo_config(config.model, overrides);
  // LibTorch seeds its global generator non-deterministically; the initialisation is seeded.
  torch::manual_seed(core::derive_seed(config.seed, kInitStream));
  run.model = models::build_model(run.model_config);
  run.model->to(run.device);
  run.model->train();
  // Labels are dropped by the objective, from the step's seeded generator; SiT's embedder would
  // drop them a second time in train mode. Its null row stays (the config's probability is > 0).
  if (auto* sit = dynamic_cast<models::SiT*>(run.model.get())) sit->y_embedder->dropout_prob = 0.0;
  core::log_info("model: " + config.model + ", " + std::to_string(run.model->parameter_count()) + " parameters, on " +
                 core::device_summary(run.device) + (run.precision == torch::kBFloat16 ? ", bf16 autocast" : ", fp32"));
}

// The objective (flow matching, or Dale's multiplicative score matching), with its state: Dale's
// prior, fitted on the data for a new run, the checkpoint's for a resumed one.
void prepare_objective(TrainingRun& run, const std::optional<objectives::Checkpoint>& checkpoint) {
  const auto& config = run.config;
  run.objective = objectives::make_objective(config.objective, run.model->num_classes());
  if (checkpoint) {
    run.objective->load_state(checkpoint->objective);
  } else if (run.data->images()) {
    run.objective->fit_state(*run.data->images(), static_cast<int>(config.data_threads));
  } else {
    FLUXION_CHECK(config.objective.name == "flow", "the ", config.objective.name,
                  " objective trains on images, not on latents (", config.data, ")");
  }
  core::log_info("objective: " + run.objective->describe());
}

// A new run's directory: checkpoints/, config.json and (from the CLI) config.toml.
void write_run_config(const TrainingRun& run, const std::string& config_toml) {
  core::ensure_directory(run.paths.ckpt_dir);
  const std::string resolved = to_json(run.config).dump(2);
  core::write_file_atomically(run.paths.out + "/config.json", [&](std::ostream& o) { o << resolved << "\n"; });
  if (!config_toml.empty())
    core::write_file_atomically(run.paths.out + "/config.toml", [&](std::ostream& o) { o << config_toml; });
}

// Rank 0's weights everywhere (they agree already: same seed or the same checkpoint), then
// gradients averaged in buckets during backward.
void start_gradient_sync(TrainingRun& run) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> state;
  for (const auto& p : run.model->named_parameters(true)) state.push_back(p.value());
  for (const auto& b : run.model->named_buffers(true)) state.push_back(b.value());
  run.group->broadcast(state, 0, "initial weight broadcast");
  std::vector<torch::Tensor> trainable;
  for (const auto& [name, t] : run.train_step->trainable()) trainable.push_back(t);
  run.gradient_sync = std::make_unique<GradientSync>(*run.group, trainable, run.dist_env.bucket_bytes);
  run.train_step->set_gradient_sync(run.gradient_sync.get());
  core::log_info("distributed: gradients averaged in " + std::to_string(run.gradient_sync->bucket_count()) +
                 " bucket(s) during backward");
}

}  // namespace

RunPaths::RunPaths(const std::string& out_dir)
    : out(out_dir),
      ckpt_dir(out_dir + "/checkpoints"),
      last_path(ckpt_dir + "/last.safetensors"),
      metrics_path(out_dir + "/metrics.jsonl") {}

std::unique_ptr<TrainingRun> open_training_run(TrainConfig config, bool resume, const std::string& config_toml) {
  const RunPaths paths(config.out);
  const auto checkpoint = resolve_run_config(config, resume, paths);
  config.validate();
  auto run = std::unique_ptr<TrainingRun>(new TrainingRun{std::move(config), paths});
  join_ranks(*run);
  run->precision = core::resolve_precision(run->config.precision, run->device);
  const int64_t micro_batch = run->config.batch / run->config.grad_accum;
  run->data = open_training_data(run->config, micro_batch, run->config.seed);
  core::log_info("data: " + run->data->describe());
  build_backbone(*run);

  run->train_step = std::make_unique<TrainStep>(*run->model, run->config);
  const auto& c = run->config;
  run->schedule = LrSchedule{c.lr, c.warmup, c.lr_schedule, c.steps, c.final_lr};
  run->schedule.validate();
  prepare_objective(*run, checkpoint);
  // Every rank walks the same global order; position() and the step stay global, so a checkpoint
  // written by N ranks resumes with M.
  run->shard = batch_shard(micro_batch, run->dist_env.rank, run->dist_env.world_size);
  if (run->group) run->data->set_shard(run->dist_env.rank, run->dist_env.world_size);

  if (checkpoint)
    restore_training_state(*run, *checkpoint);
  else if (run->writer)
    write_run_config(*run, config_toml);
  if (run->group) start_gradient_sync(*run);
  if (run->writer && (c.grid_images > 0 || c.eval_every > 0))
    run->sampler =
        std::make_unique<RunSampler>(run->model_config, c, *run->objective, run->device, run->data->latent_vae());
  if (run->writer && c.grid_images > 0)
    run->grid = std::make_unique<SampleGrid>(*run->sampler, c.grid_images, run->data->num_classes(),
                                             run->model->num_classes(), core::derive_seed(c.seed, kGridStream));
  if (run->writer && c.eval_every > 0)
    run->eval = std::make_unique<TrainingEval>(*run->sampler, c, run->data->num_classes(), run->paths.out);
  run->train_config_json = to_json(c).dump();
  run->model_config_json = models::config_to_json(run->model_config);
  return run;
}

}  // namespace fluxion::train
