#include "train/drl_finetune.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <optional>

#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/device.h"
#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/rng.h"
#include "core/safetensors.h"
#include "objectives/checkpoint.h"
#include "train/adamw.h"
#include "train/checkpoint_files.h"
#include "train/metrics_log.h"
#include "train/drl_disc_stage.h"
#include "train/drl_encoder.h"
#include "train/drl_flow_model.h"
#include "train/drl_preview.h"
#include "train/drl_update.h"
#include "train/ema.h"
#include "train/run_report.h"

namespace fluxion::train {

namespace fs = std::filesystem;

namespace {

// Seed streams derived from the run seed, one per purpose.
constexpr uint64_t kStepStream = 1ull << 40;     // + step: the rollout's noise, window and SDE draws
constexpr uint64_t kRealStream = 3;              // the real images of the discriminator
constexpr uint64_t kBaseStream = 4;              // the base samples of the discriminator
constexpr uint64_t kDiscStream = 5;              // the head's initialisation, split and batches
constexpr uint64_t kPreviewStream = 6;           // the held-out preview noise
constexpr uint64_t kRefreshStream = 1ull << 41;  // + step: a refresh's policy samples and head

std::vector<std::pair<std::string, torch::Tensor>> named(torch::nn::Module& m, bool with_buffers) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& p : m.named_parameters(true)) out.emplace_back(p.key(), p.value());
  if (with_buffers)
    for (const auto& b : m.named_buffers(true)) out.emplace_back(b.key(), b.value());
  return out;
}

// Advantages (B) of rewards (B), or one column per stochastic step of returns (B, n).
torch::Tensor advantages_of(const torch::Tensor& returns, const torch::Tensor& labels, const FinetuneConfig& c) {
  const auto norm = parse_advantage_norm(c.adv_norm);
  if (returns.dim() == 1) return advantages(returns, labels.cpu(), norm, c.resolved_adv_clip());
  std::vector<torch::Tensor> columns;
  for (int64_t j = 0; j < returns.size(1); ++j)
    columns.push_back(advantages(returns.select(1, j).contiguous(), labels.cpu(), norm, c.resolved_adv_clip()));
  return torch::stack(columns, 1);  // (B, n)
}

// What one RL step produced, for the log.
struct StepOutcome {
  UpdateStats stats;
  torch::Tensor rewards;  // (B) of the step's samples, on the CPU
  double grad_norm = 0;
};

// The means over the steps since the last metrics.jsonl line, and the progress bar's text.
class LogWindow {
 public:
  // elapsed_before_s: the wall time of the run before a resume, where elapsed_s goes on
  LogWindow(double reward_scale, double offset, double elapsed_before_s)
      : reward_scale_(reward_scale),
        offset_(offset),
        start_(std::chrono::steady_clock::now()),
        run_start_(run_clock_start(start_, elapsed_before_s)) {}

  void add(const StepOutcome& o) {
    ++steps_;
    loss_ += o.stats.loss;
    reward_ += o.rewards.mean().item<double>();
    reward_sq_ += o.rewards.var(/*unbiased=*/false).item<double>();
    kl_ += o.stats.kl;
    // the discriminator's accuracy on the policy's samples: the share it calls generated
    acc_ += (o.rewards / reward_scale_ + offset_ <= 0).to(torch::kDouble).mean().item<double>();
    clip_ += o.stats.clip_fraction;
    norm_ += o.grad_norm;
  }

  // The metrics.jsonl line of `step` (batch images per step, for the throughput); starts a new window.
  nlohmann::json flush(int64_t step, int64_t batch, double lr) {
    const auto now = std::chrono::steady_clock::now();
    const double seconds = std::chrono::duration<double>(now - start_).count();
    const double n = static_cast<double>(steps_);
    nlohmann::json line = {{"step", step},
                           {"loss", loss_ / n},
                           {"reward", reward_ / n},
                           {"reward_std", std::sqrt(reward_sq_ / n)},
                           {"kl", kl_ / n},
                           {"disc_acc", acc_ / n},
                           {"clip_fraction", clip_ / n},
                           {"grad_norm", norm_ / n},
                           {"lr", lr},
                           {"images_per_s", n * batch / std::max(seconds, 1e-9)},
                           {"elapsed_s", std::chrono::duration<double>(now - run_start_).count()}};
    char text[96];
    std::snprintf(text, sizeof(text), "reward %.3f acc %.2f KL %.4f", reward_ / n, acc_ / n, kl_ / n);
    shown_ = text;
    loss_ = reward_ = reward_sq_ = kl_ = acc_ = clip_ = norm_ = 0;
    steps_ = 0;
    start_ = std::chrono::steady_clock::now();
    return line;
  }

  const std::string& shown() const { return shown_; }

 private:
  double reward_scale_, offset_;
  std::chrono::steady_clock::time_point start_, run_start_;
  double loss_ = 0, reward_ = 0, reward_sq_ = 0, kl_ = 0, acc_ = 0, clip_ = 0, norm_ = 0;
  int64_t steps_ = 0;
  std::string shown_;
};

struct RunPaths {
  explicit RunPaths(const std::string& out_dir)
      : out(out_dir),
        ckpt_dir(out + "/checkpoints"),
        last(ckpt_dir + "/last.safetensors"),
        metrics(out + "/metrics.jsonl") {}
  std::string out, ckpt_dir, last, metrics;
};

// With `resume`, the recipe stored in the run's last checkpoint (its --steps, --out and --device
// from `given`), the checkpoint and its finetune state; otherwise `given`, after checking that the
// run directory holds no run. Nothing is written.
FinetuneConfig resolve_config(FinetuneConfig given, bool resume, const RunPaths& paths,
                              std::optional<objectives::Checkpoint>* checkpoint, nlohmann::json* state) {
  if (!resume) {
    FLUXION_CHECK(!fs::exists(paths.last), paths.out,
                  " already holds a run (checkpoints/last.safetensors); pass --resume to continue it or choose "
                  "another --out");
    given.validate();
    return given;
  }
  FLUXION_CHECK(fs::exists(paths.last), paths.out, ": nothing to resume (no checkpoints/last.safetensors)");
  *checkpoint = objectives::load_checkpoint(paths.last);
  const auto stored = nlohmann::json::parse((*checkpoint)->train_config);
  FLUXION_CHECK(stored.contains("finetune") && stored.contains("finetune_state"), paths.last,
                " is not a finetuning checkpoint (no 'finetune' in its training config)");
  auto recipe = finetune_config_from_json(stored["finetune"]);
  if (given.steps > 0) recipe.steps = given.steps;
  recipe.out = given.out;
  recipe.device = given.device;
  *state = stored["finetune_state"];
  recipe.validate();
  return recipe;
}

// One finetuning run: everything run_finetune holds, with a method per phase. The constructor
// checks and loads everything that can be refused before the run directory is written.
class FinetuneRun {
 public:
  FinetuneRun(const FinetuneConfig& given, bool resume)
      : paths_(given.out),
        config_(resolve_config(given, resume, paths_, &checkpoint_, &resumed_state_)),
        device_(core::resolve_device(config_.device)),
        base_(load_flow_base(config_.checkpoint, config_.weights)),
        encoder_(make_frozen_encoder(config_.features, device_)),
        base_model_(build_flow_model(base_, device_, /*trainable=*/false)),
        data_(open_finetune_data(config_.data, base_model_->in_channels(), base_model_->image_size())),
        num_classes_(checked_num_classes()),
        head_(load_given_discriminator()),
        // the policy: the base's weights, all trainable (full finetuning)
        policy_model_(build_flow_model(base_, device_, /*trainable=*/true)),
        policy_(velocity_fn(*policy_model_, base_)),
        base_velocity_(velocity_fn(*base_model_, base_)),
        optimizer_(named(*policy_model_, false), AdamWConfig{config_.lr, 0.9, 0.999, 1e-8, config_.weight_decay}),
        ema_(named(*policy_model_, true), {config_.ema_decay}),
        preview_(base_, config_, num_classes_, device_, core::derive_seed(config_.seed, kPreviewStream)),
        offset_(std::log(config_.disc_class_ratio)) {
    for (auto& p : policy_model_->parameters()) trainable_.push_back(p);
    // r(x, y) = scale (logit - log(n_d / n_b)); differentiable in x when x requires grad
    reward_ = [this](const torch::Tensor& x, const torch::Tensor& y) {
      auto features = encoder_->encode(x);
      auto head_labels =
          num_classes_ > 0 ? y.to(features.device()) : torch::full({x.size(0)}, -1, torch::kLong).to(features.device());
      return discriminator_reward(head_, features, head_labels, config_.reward_scale) - config_.reward_scale * offset_;
    };
  }

  FinetuneResult run() {
    core::log_info("finetune: " + config_.checkpoint + " (" + base_.objective->describe() + "), " + data_->describe() +
                   ", features " + encoder_->describe() + ", algo " + config_.algo);
    if (checkpoint_)
      restore();
    else
      start();
    const int64_t batch = config_.groups * config_.group_size;
    core::Progress progress("finetune", config_.steps, "step");
    progress.update(step_);
    LogWindow window(config_.reward_scale, offset_, elapsed_before_s_);
    const int64_t first_step = step_;
    while (step_ < config_.steps) {
      if (config_.refresh_every > 0 && step_ > 0 && step_ % config_.refresh_every == 0 &&
          disc_file_ != refreshed_disc_file(step_))
        refresh_discriminator();
      window.add(rl_step(batch));
      ++step_;
      progress.update(1, window.shown());
      if (step_ % config_.log_every == 0 || step_ == config_.steps)
        core::append_jsonl(paths_.metrics, window.flush(step_, batch, config_.lr));
      if (step_ % config_.sample_every == 0 || step_ == config_.steps) {
        if (config_.grid_images > 0) {
          result_.last_eval_reward = preview_.run(ema_.weights(0), reward_, sample_grid(step_));
          core::append_jsonl(paths_.metrics, {{"step", step_}, {"eval", {{"reward", result_.last_eval_reward}}}});
        }
        write_run_report(paths_.out);
      }
      if (step_ % config_.ckpt_every == 0 || step_ == config_.steps) result_.last_checkpoint = save();
    }
    progress.finish();
    result_.steps_done = step_;
    if (result_.last_checkpoint.empty()) result_.last_checkpoint = paths_.last;
    if (step_ > first_step)
      core::log_info("finetuned " + std::to_string(step_ - first_step) + " steps; checkpoint " +
                     result_.last_checkpoint);
    return result_;
  }

 private:
  static std::string refreshed_disc_file(int64_t step) { return "disc-" + step_tag(step) + ".safetensors"; }
  std::string sample_grid(int64_t step) const { return paths_.out + "/samples/" + step_tag(step) + ".png"; }

  int64_t checked_num_classes() const {
    const int64_t model_classes = base_model_->num_classes();
    const bool conditional = data_->num_classes() > 0 && model_classes > 0;
    FLUXION_CHECK(!conditional || data_->num_classes() == model_classes, "--data ", config_.data, " has ",
                  data_->num_classes(), " classes, the model ", model_classes);
    return conditional ? model_classes : 0;
  }

  // The discriminator of --disc or of the resumed run (checked against the encoder), or none:
  // then start() trains one.
  DiscriminatorHead load_given_discriminator() {
    std::string features;
    DiscriminatorHead head{nullptr};
    if (checkpoint_) {
      head = load_discriminator(paths_.out + "/" + resumed_state_.value("disc", std::string("disc.safetensors")),
                                &features);
    } else if (!config_.disc.empty()) {
      head = load_discriminator(config_.disc, &features, &given_disc_accuracy_);
    }
    if (!head) return head;
    FLUXION_CHECK(features.empty() || features == config_.features, "the discriminator ",
                  checkpoint_ ? paths_.out : config_.disc, " was trained on --features ", features, ", not ",
                  config_.features);
    FLUXION_CHECK(head->config().feature_dim == encoder_->dim(), "the discriminator has ", head->config().feature_dim,
                  "-d inputs, the --features ", config_.features, " encoder gives ", encoder_->dim());
    for (auto& p : head->parameters()) p.set_requires_grad(false);
    head->to(device_);
    return head;
  }

  void restore() {
    policy_model_->load_state(checkpoint_->model, paths_.last);
    optimizer_.load_state(checkpoint_->optimizer, paths_.last);
    FLUXION_CHECK(checkpoint_->emas.size() == 1, paths_.last, ": a finetuning checkpoint holds one EMA");
    ema_.load(0, checkpoint_->emas[0], paths_.last);
    step_ = checkpoint_->step;
    disc_file_ = resumed_state_.value("disc", disc_file_);
    anchor_file_ = resumed_state_.value("anchor", anchor_file_);
    if (!anchor_file_.empty()) {
      torch::NoGradGuard no_grad;
      base_model_->load_state(core::load_safetensors(paths_.out + "/" + anchor_file_), paths_.out + "/" + anchor_file_);
    }
    result_.disc_holdout_accuracy = resumed_state_.value("disc_holdout_accuracy", -1.0);
    result_.first_eval_reward = resumed_state_.value("first_eval_reward", 0.0);
    result_.last_eval_reward = result_.first_eval_reward;
    elapsed_before_s_ = truncate_metrics(paths_.metrics, step_);
    core::log_info("resumed " + paths_.out + " at step " + std::to_string(step_));
  }

  // A new run: config.json, the discriminator (trained on base samples unless --disc gave one)
  // and the step-0 preview.
  void start() {
    core::ensure_directory(paths_.ckpt_dir);
    core::write_file_atomically(paths_.out + "/config.json",
                                [&](std::ostream& o) { o << to_json(config_).dump(2) << "\n"; });
    if (!head_) {
      auto stage = fit_against(*base_model_, core::derive_seed(config_.seed, kBaseStream), "base samples");
      head_ = stage.head;
      result_.disc_holdout_accuracy = stage.fit.holdout_accuracy;
      core::append_jsonl(paths_.metrics, {{"step", 0},
                                          {"disc_holdout_accuracy", stage.fit.holdout_accuracy},
                                          {"disc_train_accuracy", stage.fit.train_accuracy},
                                          {"disc_epochs", stage.fit.epochs}});
    } else {
      result_.disc_holdout_accuracy = given_disc_accuracy_;
      if (given_disc_accuracy_ >= 0)
        core::append_jsonl(paths_.metrics,
                           {{"step", 0}, {"disc_holdout_accuracy", given_disc_accuracy_}, {"disc", config_.disc}});
    }
    save_discriminator(paths_.out + "/" + disc_file_, head_, config_.features, result_.disc_holdout_accuracy);
    if (config_.grid_images > 0) {
      core::ensure_directory(paths_.out + "/samples");
      result_.first_eval_reward = preview_.run(ema_.weights(0), reward_, sample_grid(0));
      core::append_jsonl(paths_.metrics, {{"step", 0}, {"eval", {{"reward", result_.first_eval_reward}}}});
    }
    result_.last_eval_reward = result_.first_eval_reward;
  }

  DiscriminatorStage fit_against(models::Backbone& model, uint64_t seed, const char* what) {
    const auto real = draw_real_images(*data_, config_.disc_samples, core::derive_seed(config_.seed, kRealStream),
                                       static_cast<int>(config_.data_threads));
    const auto generated =
        draw_model_samples(model, preview_.sampler(), config_.disc_samples, num_classes_, seed, device_);
    auto stage = fit_discriminator_stage(*encoder_, real, generated, num_classes_, config_,
                                         core::derive_seed(seed, kDiscStream), device_);
    core::log_info(std::string("discriminator (") + what + "): held-out accuracy " +
                   std::to_string(stage.fit.holdout_accuracy) + ", train accuracy " +
                   std::to_string(stage.fit.train_accuracy) + " after " + std::to_string(stage.fit.epochs) + " epochs");
    return stage;
  }

  // Retrains the discriminator against the current policy (its live weights), as a GAN would;
  // off by default. At the start of a step, not the end of the last one, so a run resumed here
  // refreshes too.
  void refresh_discriminator() {
    auto stage = fit_against(*policy_model_, core::derive_seed(config_.seed, kRefreshStream + step_), "policy samples");
    head_ = stage.head;
    disc_file_ = refreshed_disc_file(step_);
    save_discriminator(paths_.out + "/" + disc_file_, head_, config_.features, stage.fit.holdout_accuracy);
    if (config_.refresh_anchor == "policy") {
      // the new logit is log p_data / p_policy: the KL moves to the same reference, or the
      // optimum p_ref exp(r / beta) mixes the base back in (drl_config.h)
      torch::NoGradGuard no_grad;
      base_model_->load_state(policy_model_->state_dict(), "the policy at step " + std::to_string(step_));
      anchor_file_ = "anchor-" + step_tag(step_) + ".safetensors";
      core::save_safetensors(paths_.out + "/" + anchor_file_, base_model_->state_dict());
    }
    core::append_jsonl(paths_.metrics, {{"step", step_}, {"disc_holdout_accuracy", stage.fit.holdout_accuracy}});
  }

  // Step step_ + 1: a rollout of every group from (seed, step) and one update of the policy.
  StepOutcome rl_step(int64_t batch) {
    auto gen = core::make_generator(core::derive_seed(config_.seed, kStepStream + step_));
    // groups cycle through the classes across steps, so every class is visited with few groups
    const auto labels =
        group_labels(config_.groups, config_.group_size, num_classes_, step_ * config_.groups).to(device_);
    const int64_t C = base_model_->in_channels(), S = base_model_->image_size();
    auto z = core::randn({batch, C, S, S}, gen).to(device_);
    auto options = config_.rollout_options();
    options.window_begin = draw_window_begin(options, gen);
    auto outcome = config_.algo == "grpo" ? grpo_update(labels, z, gen, options)
                                          : reward_gradient_update(labels, z, gen, options, batch);
    FLUXION_CHECK(std::isfinite(outcome.stats.loss) && std::isfinite(outcome.grad_norm), "non-finite loss (",
                  outcome.stats.loss, ") or gradient norm (", outcome.grad_norm, ") at step ", step_ + 1,
                  "; lower --lr or raise --beta");
    return outcome;
  }

  StepOutcome grpo_update(const torch::Tensor& labels, const torch::Tensor& z, at::Generator& gen,
                          const RolloutOptions& options) {
    StepOutcome o;
    const auto trajectory = rollout(policy_, labels, z, gen, options, config_.kl_to_go ? &base_velocity_ : nullptr);
    o.rewards = reward_(trajectory.sample().clamp(-1, 1), labels).cpu();
    const auto returns = config_.kl_to_go ? kl_penalised_returns(o.rewards, trajectory, config_.beta) : o.rewards;
    const auto adv = advantages_of(returns, labels, config_).to(device_);
    GrpoOptions grpo{config_.beta, config_.clip_range, config_.micro_batch};
    for (int64_t epoch = 0; epoch < config_.inner_epochs; ++epoch) {
      optimizer_.zero_grad();
      o.stats = grpo_backward(policy_, base_velocity_, trajectory, adv, options, grpo);
      o.grad_norm = clip_grad_norm(trainable_, config_.grad_clip).item<double>();
      optimizer_.step(config_.lr);
      ema_.update(named(*policy_model_, true));
    }
    return o;
  }

  StepOutcome reward_gradient_update(const torch::Tensor& labels, const torch::Tensor& z, at::Generator& gen,
                                     const RolloutOptions& options, int64_t batch) {
    StepOutcome o;
    optimizer_.zero_grad();
    const int64_t micro = config_.micro_batch > 0 ? std::min(config_.micro_batch, batch) : batch;
    std::vector<torch::Tensor> samples;
    for (int64_t begin = 0; begin < batch; begin += micro) {
      const int64_t end = std::min(batch, begin + micro);
      const double share = static_cast<double>(end - begin) / static_cast<double>(batch);
      UpdateStats part;
      torch::Tensor sample;
      auto loss = reward_gradient_loss(policy_, base_velocity_, reward_, labels.slice(0, begin, end),
                                       z.slice(0, begin, end), gen, options, config_.beta, &part, &sample);
      (loss * share).backward();
      o.stats.loss += part.loss * share;
      o.stats.kl += part.kl * share;
      samples.push_back(sample);
    }
    {
      torch::NoGradGuard no_grad;
      o.rewards = reward_(torch::cat(samples), labels).cpu();
    }
    o.grad_norm = clip_grad_norm(trainable_, config_.grad_clip).item<double>();
    optimizer_.step(config_.lr);
    ema_.update(named(*policy_model_, true));
    return o;
  }

  // checkpoints/step-N.safetensors (and last), in the training format plus the finetune state.
  std::string save() {
    auto train_config = nlohmann::json::parse(base_.weights.train_config);
    train_config["finetune"] = to_json(config_);
    train_config["finetune_state"] = {{"disc", disc_file_},
                                      {"anchor", anchor_file_},
                                      {"disc_holdout_accuracy", result_.disc_holdout_accuracy},
                                      {"first_eval_reward", result_.first_eval_reward}};
    objectives::Checkpoint c;
    c.model = policy_model_->state_dict();
    c.emas.push_back(ema_.weights(0));
    c.ema_decays = {config_.ema_decay};
    c.optimizer = optimizer_.state();
    c.objective = base_.objective->state();
    c.step = step_;
    c.model_config = models::config_to_json(base_.model_config);
    c.train_config = train_config.dump();
    const std::string path = paths_.ckpt_dir + "/" + checkpoint_name(step_);
    objectives::save_checkpoint(path, c);
    update_last_link(path, paths_.last);
    prune_checkpoints(paths_.ckpt_dir, config_.keep_checkpoints);
    return path;
  }

  // Declaration order is construction order: each member is built from those above it.
  RunPaths paths_;
  std::optional<objectives::Checkpoint> checkpoint_;
  nlohmann::json resumed_state_;
  FinetuneConfig config_;
  torch::Device device_;
  FlowBase base_;
  std::unique_ptr<FrozenEncoder> encoder_;
  models::BackbonePtr base_model_;  // the KL's reference: the base, or the policy at the last refresh
  std::shared_ptr<core::Dataset> data_;
  int64_t num_classes_;                // 0: unconditional
  double given_disc_accuracy_ = -1.0;  // of a --disc file (-1: it does not say)
  DiscriminatorHead head_;
  models::BackbonePtr policy_model_;
  VelocityFn policy_, base_velocity_;
  AdamW optimizer_;
  EmaSet ema_;
  Preview preview_;
  double offset_;  // log(n_data / n_base)
  std::vector<torch::Tensor> trainable_;
  RewardFn reward_;
  FinetuneResult result_;
  int64_t step_ = 0;
  double elapsed_before_s_ = 0;  // wall time before a resume (metrics.jsonl's last elapsed_s)
  std::string disc_file_ = "disc.safetensors";
  std::string anchor_file_;  // the KL's reference after a refresh (--refresh-anchor policy); empty: the base
};

}  // namespace

FinetuneResult run_finetune(FinetuneConfig config, bool resume) { return FinetuneRun(config, resume).run(); }

}  // namespace fluxion::train
