#pragma once
// Everything a training run needs, with defaults that give the default run: a small
// class-conditional SiT on Fashion-MNIST (padded to 32x32) that trains on a 2-core CPU in about
// ten minutes. The CLI binds its options to these fields; the resolved values are written to the
// run directory (config.toml) and into every checkpoint (JSON metadata; the objective's keys
// "objective", "flow", "dale" sit beside the others, objectives/objective_config.h).
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "objectives/objective_config.h"

namespace fluxion::train {

struct TrainConfig {
  // What is trained
  std::string model = "SiT-T/4";
  std::string attention = "softmax";
  objectives::ObjectiveConfig objective;  // flow | dale, with their settings
  // Data
  std::string data = "fashion-mnist:train";
  int64_t image_size = 32;  // items are padded (28 -> 32) or resized to this
  // Larger images: resize (shorter side, then centre crop) | adm (ADM/SiT's center_crop_arr, the
  // ImageNet preprocessing of SiT, DiT and REPA)
  std::string crop = "resize";
  int64_t data_threads = 0;
  // Latent data (latents:PATH): the SD-VAE that decodes the sample grids (weights .safetensors;
  // vae_config a diffusers config.json, "" for the SD-VAE)
  std::string vae;
  std::string vae_config;
  // Optimisation
  // 3,600 steps of 16 images: about 10 minutes on 2 CPU cores. At equal cost, more and smaller
  // steps train this model further (FD 96 against 150 for 1,500 x 64, docs/benchmarks.md).
  int64_t steps = 3600;
  int64_t batch = 16;
  int64_t grad_accum = 1;
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double weight_decay = 0.0;
  double adam_eps = 1e-8;
  int64_t warmup = 200;
  std::string lr_schedule = "constant";  // constant | cosine | linear
  double final_lr = 0.0;
  double grad_clip = 1.0;  // 0 disables
  // 0.995 (half-life 140 steps) suits runs of a few thousand steps: with 0.999 the average of a
  // 1,500-step run still holds 22% of the initial weights (a zero last layer) and samples noise.
  std::vector<double> ema_decays{0.995};
  std::string on_nonfinite = "stop";  // stop | skip
  // Runtime
  uint64_t seed = 0;
  std::string device = "auto";
  std::string precision = "auto";  // auto (bf16 on CUDA, fp32 on CPU) | fp32 | bf16
  bool cuda_graphs = true;         // CUDA: replay the step from a graph (graphed_step.h)
  std::string out = "runs/default";
  int64_t log_every = 25;
  int64_t ckpt_every = 1000;
  int64_t sample_every = 1000;
  int64_t keep_checkpoints = 3;  // step-*.safetensors kept besides last (0 keeps all)
  // The sample grid written every sample_every steps (fixed noise and labels)
  int64_t grid_images = 100;
  std::string grid_sampler = "heun";
  int64_t grid_steps = 25;
  double grid_cfg = 1.0;
  int64_t grid_level_stride = 10;  // dale grids visit every 10th noise level (100 NFE for N = 1000)
  // Evaluation during training (training_eval.h): every eval_every steps (0: never) the FD of
  // eval_samples samples of the first EMA, drawn with the grid's sampler, to eval_ref ("": the
  // training data) in eval_features space (auto: fmnist for Fashion-MNIST, else inception)
  int64_t eval_every = 0;
  int64_t eval_samples = 1000;
  std::string eval_features = "auto";
  std::string eval_ref;

  void validate() const;
};

nlohmann::json to_json(const TrainConfig& config);
TrainConfig train_config_from_json(const nlohmann::json& json);

}  // namespace fluxion::train
