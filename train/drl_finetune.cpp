#include "train/drl_finetune.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/device.h"
#include "core/error.h"
#include "core/image_io.h"
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

// Samples of the fixed held-out noise with the evaluation sampler (guidance-free), their mean
// reward, and the grid PNG.
class Preview {
 public:
  Preview(const FlowBase& base, const FinetuneConfig& config, int64_t num_classes, const torch::Device& device)
      : model_(build_flow_model(base, device, false)),
        device_(device),
        seed_(core::derive_seed(config.seed, kPreviewStream)) {
    const int64_t n = std::max<int64_t>(config.grid_images, 1);
    auto gen = core::make_generator(seed_);
    noise_ = core::randn({n, model_->in_channels(), model_->image_size(), model_->image_size()}, gen).to(device);
    labels_ = (num_classes > 0 ? torch::arange(n, torch::kLong).remainder(num_classes)
                               : torch::full({n}, model_->num_classes(), torch::kLong))
                  .to(device);
    sampler_ = evaluation_sampler(base, config);
  }

  static std::unique_ptr<objectives::ObjectiveSampler> evaluation_sampler(const FlowBase& base,
                                                                          const FinetuneConfig& config) {
    objectives::SamplingRequest request;
    request.sampler.name = config.disc_sampler;
    request.sampler.steps = config.disc_sampler_steps;
    request.sampler.cfg_scale = 1.0;  // guidance-free: what DRL improves
    request.source = config.checkpoint;
    return base.objective->sampler(request);
  }

  // Mean reward of the held-out samples of `weights`; writes the grid when `grid` is not "".
  double run(const core::TensorMap& weights, const RewardFn& reward, const std::string& grid) {
    torch::NoGradGuard no_grad;
    model_->load_state(weights, "the policy's EMA");
    auto gen = core::make_generator(seed_ + 1, device_);
    const samplers::ModelFn fn = [&](const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& y) {
      return model_->forward(x, t, y).to(torch::kFloat);
    };
    auto images = sampler_->sample(fn, labels_, noise_, gen).x.to(torch::kFloat).clamp(-1, 1);
    if (!grid.empty()) core::write_png(grid, core::make_grid(core::to_uint8(images.cpu())));
    return reward(images, labels_).mean().item<double>();
  }

  const objectives::ObjectiveSampler& sampler() const { return *sampler_; }

 private:
  models::BackbonePtr model_;
  torch::Device device_;
  uint64_t seed_;
  torch::Tensor noise_, labels_;
  std::unique_ptr<objectives::ObjectiveSampler> sampler_;
};

// Advantages (B) of rewards (B), or one column per stochastic step of returns (B, n).
torch::Tensor advantages_of(const torch::Tensor& returns, const torch::Tensor& labels, const FinetuneConfig& c) {
  const auto norm = parse_advantage_norm(c.adv_norm);
  if (returns.dim() == 1) return advantages(returns, labels.cpu(), norm, c.resolved_adv_clip());
  std::vector<torch::Tensor> columns;
  for (int64_t j = 0; j < returns.size(1); ++j)
    columns.push_back(advantages(returns.select(1, j).contiguous(), labels.cpu(), norm, c.resolved_adv_clip()));
  return torch::stack(columns, 1);  // (B, n)
}

}  // namespace

FinetuneResult run_finetune(FinetuneConfig config, bool resume) {
  const std::string out = config.out;
  const std::string ckpt_dir = out + "/checkpoints";
  const std::string last_path = ckpt_dir + "/last.safetensors";
  const std::string metrics_path = out + "/metrics.jsonl";

  // Everything that can be refused is checked before anything is written.
  std::optional<objectives::Checkpoint> checkpoint;
  nlohmann::json resumed_state;
  if (resume) {
    FLUXION_CHECK(fs::exists(last_path), out, ": nothing to resume (no checkpoints/last.safetensors)");
    checkpoint = objectives::load_checkpoint(last_path);
    const auto stored = nlohmann::json::parse(checkpoint->train_config);
    FLUXION_CHECK(stored.contains("finetune") && stored.contains("finetune_state"), last_path,
                  " is not a finetuning checkpoint (no 'finetune' in its training config)");
    auto recipe = finetune_config_from_json(stored["finetune"]);
    if (config.steps > 0) recipe.steps = config.steps;
    recipe.out = config.out;
    recipe.device = config.device;
    config = recipe;
    resumed_state = stored["finetune_state"];
  } else {
    FLUXION_CHECK(!fs::exists(last_path), out,
                  " already holds a run (checkpoints/last.safetensors); pass --resume to continue it or choose "
                  "another --out");
  }
  config.validate();
  const auto device = core::resolve_device(config.device);
  const auto base = load_flow_base(config.checkpoint, config.weights);
  auto encoder = make_frozen_encoder(config.features, device);
  const auto base_model = build_flow_model(base, device, /*trainable=*/false);
  auto data = open_finetune_data(config.data, base_model->in_channels(), base_model->image_size());
  const int64_t model_classes = base_model->num_classes();
  const bool conditional = data->num_classes() > 0 && model_classes > 0;
  FLUXION_CHECK(!conditional || data->num_classes() == model_classes, "--data ", config.data, " has ",
                data->num_classes(), " classes, the model ", model_classes);
  const int64_t num_classes = conditional ? model_classes : 0;
  std::string disc_features;
  DiscriminatorHead head{nullptr};
  double loaded_accuracy = -1.0;  // of a --disc file (-1: it does not say)
  if (!resume && !config.disc.empty()) head = load_discriminator(config.disc, &disc_features, &loaded_accuracy);
  if (resume)
    head = load_discriminator(out + "/" + resumed_state.value("disc", std::string("disc.safetensors")), &disc_features);
  if (head) {
    FLUXION_CHECK(disc_features.empty() || disc_features == config.features, "the discriminator ",
                  resume ? out : config.disc, " was trained on --features ", disc_features, ", not ", config.features);
    FLUXION_CHECK(head->config().feature_dim == encoder->dim(), "the discriminator has ", head->config().feature_dim,
                  "-d inputs, the --features ", config.features, " encoder gives ", encoder->dim());
    for (auto& p : head->parameters()) p.set_requires_grad(false);
    head->to(device);
  }
  core::log_info("finetune: " + config.checkpoint + " (" + base.objective->describe() + "), " + data->describe() +
                 ", features " + encoder->describe() + ", algo " + config.algo);

  // The policy: the base's weights, all trainable (full finetuning).
  auto policy_model = build_flow_model(base, device, /*trainable=*/true);
  const auto policy = velocity_fn(*policy_model, base);
  const auto base_velocity = velocity_fn(*base_model, base);
  AdamW optimizer(named(*policy_model, false), AdamWConfig{config.lr, 0.9, 0.999, 1e-8, config.weight_decay});
  EmaSet ema(named(*policy_model, true), {config.ema_decay});
  std::vector<torch::Tensor> trainable;
  for (auto& p : policy_model->parameters()) trainable.push_back(p);
  Preview preview(base, config, num_classes, device);

  FinetuneResult result;
  int64_t step = 0;
  std::string disc_file = "disc.safetensors";
  std::string anchor_file;  // the KL's reference after a refresh (--refresh-anchor policy); empty: the base
  if (checkpoint) {
    policy_model->load_state(checkpoint->model, last_path);
    optimizer.load_state(checkpoint->optimizer, last_path);
    FLUXION_CHECK(checkpoint->emas.size() == 1, last_path, ": a finetuning checkpoint holds one EMA");
    ema.load(0, checkpoint->emas[0], last_path);
    step = checkpoint->step;
    disc_file = resumed_state.value("disc", disc_file);
    anchor_file = resumed_state.value("anchor", anchor_file);
    if (!anchor_file.empty()) {
      torch::NoGradGuard no_grad;
      base_model->load_state(core::load_safetensors(out + "/" + anchor_file), out + "/" + anchor_file);
    }
    result.disc_holdout_accuracy = resumed_state.value("disc_holdout_accuracy", -1.0);
    result.first_eval_reward = resumed_state.value("first_eval_reward", 0.0);
    truncate_metrics(metrics_path, step);
    core::log_info("resumed " + out + " at step " + std::to_string(step));
  } else {
    core::ensure_directory(ckpt_dir);
    core::write_file_atomically(out + "/config.json", [&](std::ostream& o) { o << to_json(config).dump(2) << "\n"; });
  }

  auto fit_against = [&](models::Backbone& model, uint64_t seed, const char* what) {
    const auto real = draw_real_images(*data, config.disc_samples, core::derive_seed(config.seed, kRealStream),
                                       static_cast<int>(config.data_threads));
    const auto generated = draw_model_samples(model, preview.sampler(), config.disc_samples, num_classes, seed, device);
    auto stage = fit_discriminator_stage(*encoder, real, generated, num_classes, config,
                                         core::derive_seed(seed, kDiscStream), device);
    core::log_info(std::string("discriminator (") + what + "): held-out accuracy " +
                   std::to_string(stage.fit.holdout_accuracy) + ", train accuracy " +
                   std::to_string(stage.fit.train_accuracy) + " after " + std::to_string(stage.fit.epochs) + " epochs");
    return stage;
  };
  if (!checkpoint) {
    if (!head) {
      auto stage = fit_against(*base_model, core::derive_seed(config.seed, kBaseStream), "base samples");
      head = stage.head;
      result.disc_holdout_accuracy = stage.fit.holdout_accuracy;
      core::append_jsonl(metrics_path, {{"step", 0},
                                        {"disc_holdout_accuracy", stage.fit.holdout_accuracy},
                                        {"disc_train_accuracy", stage.fit.train_accuracy},
                                        {"disc_epochs", stage.fit.epochs}});
    } else {
      result.disc_holdout_accuracy = loaded_accuracy;
      if (loaded_accuracy >= 0)
        core::append_jsonl(metrics_path,
                           {{"step", 0}, {"disc_holdout_accuracy", loaded_accuracy}, {"disc", config.disc}});
    }
    save_discriminator(out + "/" + disc_file, head, config.features, result.disc_holdout_accuracy);
  }
  const double offset = std::log(config.disc_class_ratio);
  // r(x, y) = scale (logit - log(n_d / n_b)); differentiable in x when x requires grad
  const RewardFn reward = [&](const torch::Tensor& x, const torch::Tensor& y) {
    auto features = encoder->encode(x);
    auto head_labels =
        num_classes > 0 ? y.to(features.device()) : torch::full({x.size(0)}, -1, torch::kLong).to(features.device());
    return discriminator_reward(head, features, head_labels, config.reward_scale) - config.reward_scale * offset;
  };
  if (!checkpoint && config.grid_images > 0) {
    core::ensure_directory(out + "/samples");
    result.first_eval_reward = preview.run(ema.weights(0), reward, out + "/samples/" + step_tag(0) + ".png");
    core::append_jsonl(metrics_path, {{"step", 0}, {"eval", {{"reward", result.first_eval_reward}}}});
  }
  result.last_eval_reward = result.first_eval_reward;

  const std::string model_config_json = models::config_to_json(base.model_config);
  auto save = [&](int64_t at_step) {
    auto train_config = nlohmann::json::parse(base.weights.train_config);
    train_config["finetune"] = to_json(config);
    train_config["finetune_state"] = {{"disc", disc_file},
                                      {"anchor", anchor_file},
                                      {"disc_holdout_accuracy", result.disc_holdout_accuracy},
                                      {"first_eval_reward", result.first_eval_reward}};
    objectives::Checkpoint c;
    c.model = policy_model->state_dict();
    c.emas.push_back(ema.weights(0));
    c.ema_decays = {config.ema_decay};
    c.optimizer = optimizer.state();
    c.objective = base.objective->state();
    c.step = at_step;
    c.model_config = model_config_json;
    c.train_config = train_config.dump();
    const std::string path = ckpt_dir + "/" + checkpoint_name(at_step);
    objectives::save_checkpoint(path, c);
    update_last_link(path, last_path);
    prune_checkpoints(ckpt_dir, config.keep_checkpoints);
    return path;
  };

  const int64_t batch = config.groups * config.group_size;
  const int64_t C = base_model->in_channels(), S = base_model->image_size();
  core::Progress progress("finetune", config.steps, "step");
  progress.update(step);
  double sum_loss = 0, sum_reward = 0, sum_reward_sq = 0, sum_kl = 0, sum_acc = 0, sum_clip = 0, sum_norm = 0;
  int64_t window = 0;
  std::string shown;
  auto window_start = std::chrono::steady_clock::now();
  const auto run_start = window_start;
  const int64_t first_step = step;
  while (step < config.steps) {
    if (config.refresh_every > 0 && step > 0 && step % config.refresh_every == 0 &&
        disc_file != "disc-" + step_tag(step) + ".safetensors") {
      // retrain against the current policy (its live weights), as a GAN would; off by default.
      // At the start of a step, not the end of the last one, so a run resumed here refreshes too.
      auto stage = fit_against(*policy_model, core::derive_seed(config.seed, kRefreshStream + step), "policy samples");
      head = stage.head;
      disc_file = "disc-" + step_tag(step) + ".safetensors";
      save_discriminator(out + "/" + disc_file, head, config.features, stage.fit.holdout_accuracy);
      if (config.refresh_anchor == "policy") {
        // the new logit is log p_data / p_policy: the KL moves to the same reference, or the
        // optimum p_ref exp(r / beta) mixes the base back in (drl_config.h)
        torch::NoGradGuard no_grad;
        base_model->load_state(policy_model->state_dict(), "the policy at step " + std::to_string(step));
        anchor_file = "anchor-" + step_tag(step) + ".safetensors";
        core::save_safetensors(out + "/" + anchor_file, base_model->state_dict());
      }
      core::append_jsonl(metrics_path, {{"step", step}, {"disc_holdout_accuracy", stage.fit.holdout_accuracy}});
    }
    auto gen = core::make_generator(core::derive_seed(config.seed, kStepStream + step));
    // groups cycle through the classes across steps, so every class is visited with few groups
    const auto labels = group_labels(config.groups, config.group_size, num_classes, step * config.groups).to(device);
    auto z = core::randn({batch, C, S, S}, gen).to(device);
    auto options = config.rollout_options();
    options.window_begin = draw_window_begin(options, gen);
    UpdateStats stats;
    torch::Tensor rewards;  // (B) of this step's samples
    double grad_norm = 0;
    if (config.algo == "grpo") {
      const auto trajectory = rollout(policy, labels, z, gen, options, config.kl_to_go ? &base_velocity : nullptr);
      rewards = reward(trajectory.sample().clamp(-1, 1), labels).cpu();
      const auto returns = config.kl_to_go ? kl_penalised_returns(rewards, trajectory, config.beta) : rewards;
      const auto adv = advantages_of(returns, labels, config).to(device);
      GrpoOptions grpo{config.beta, config.clip_range, config.micro_batch};
      for (int64_t epoch = 0; epoch < config.inner_epochs; ++epoch) {
        optimizer.zero_grad();
        stats = grpo_backward(policy, base_velocity, trajectory, adv, options, grpo);
        grad_norm = clip_grad_norm(trainable, config.grad_clip).item<double>();
        optimizer.step(config.lr);
        ema.update(named(*policy_model, true));
      }
    } else {
      optimizer.zero_grad();
      const int64_t micro = config.micro_batch > 0 ? std::min(config.micro_batch, batch) : batch;
      std::vector<torch::Tensor> samples;
      for (int64_t begin = 0; begin < batch; begin += micro) {
        const int64_t end = std::min(batch, begin + micro);
        const double share = static_cast<double>(end - begin) / static_cast<double>(batch);
        UpdateStats part;
        torch::Tensor sample;
        auto loss = reward_gradient_loss(policy, base_velocity, reward, labels.slice(0, begin, end),
                                         z.slice(0, begin, end), gen, options, config.beta, &part, &sample);
        (loss * share).backward();
        stats.loss += part.loss * share;
        stats.kl += part.kl * share;
        samples.push_back(sample);
      }
      {
        torch::NoGradGuard no_grad;
        rewards = reward(torch::cat(samples), labels).cpu();
      }
      grad_norm = clip_grad_norm(trainable, config.grad_clip).item<double>();
      optimizer.step(config.lr);
      ema.update(named(*policy_model, true));
    }
    FLUXION_CHECK(std::isfinite(stats.loss) && std::isfinite(grad_norm), "non-finite loss (", stats.loss,
                  ") or gradient norm (", grad_norm, ") at step ", step + 1, "; lower --lr or raise --beta");
    ++step;
    ++window;
    const double mean_reward = rewards.mean().item<double>();
    sum_loss += stats.loss;
    sum_reward += mean_reward;
    sum_reward_sq += rewards.var(/*unbiased=*/false).item<double>();
    sum_kl += stats.kl;
    // the discriminator's accuracy on the policy's samples: the share it calls generated
    sum_acc += (rewards / config.reward_scale + offset <= 0).to(torch::kDouble).mean().item<double>();
    sum_clip += stats.clip_fraction;
    sum_norm += grad_norm;
    progress.update(1, shown);

    if (step % config.log_every == 0 || step == config.steps) {
      const auto now = std::chrono::steady_clock::now();
      const double seconds = std::chrono::duration<double>(now - window_start).count();
      const double n = static_cast<double>(window);
      core::append_jsonl(metrics_path, {{"step", step},
                                        {"loss", sum_loss / n},
                                        {"reward", sum_reward / n},
                                        {"reward_std", std::sqrt(sum_reward_sq / n)},
                                        {"kl", sum_kl / n},
                                        {"disc_acc", sum_acc / n},
                                        {"clip_fraction", sum_clip / n},
                                        {"grad_norm", sum_norm / n},
                                        {"lr", config.lr},
                                        {"images_per_s", n * batch / std::max(seconds, 1e-9)},
                                        {"elapsed_s", std::chrono::duration<double>(now - run_start).count()}});
      char text[96];
      std::snprintf(text, sizeof(text), "reward %.3f acc %.2f KL %.4f", sum_reward / n, sum_acc / n, sum_kl / n);
      shown = text;
      sum_loss = sum_reward = sum_reward_sq = sum_kl = sum_acc = sum_clip = sum_norm = 0;
      window = 0;
      window_start = std::chrono::steady_clock::now();
    }
    if (step % config.sample_every == 0 || step == config.steps) {
      if (config.grid_images > 0) {
        result.last_eval_reward = preview.run(ema.weights(0), reward, out + "/samples/" + step_tag(step) + ".png");
        core::append_jsonl(metrics_path, {{"step", step}, {"eval", {{"reward", result.last_eval_reward}}}});
      }
      write_run_report(out);
    }
    if (step % config.ckpt_every == 0 || step == config.steps) result.last_checkpoint = save(step);
  }
  progress.finish();
  result.steps_done = step;
  if (result.last_checkpoint.empty()) result.last_checkpoint = last_path;
  if (step > first_step)
    core::log_info("finetuned " + std::to_string(step - first_step) + " steps; checkpoint " + result.last_checkpoint);
  return result;
}

}  // namespace fluxion::train
