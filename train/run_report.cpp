#include "train/run_report.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "core/atomic_file.h"
#include "train/report_chart.h"

namespace fluxion::train {

namespace {
namespace fs = std::filesystem;
using Points = std::vector<std::pair<double, double>>;

struct RunLog {
  std::map<std::string, Points> series;       // loss, lr, grad_norm, images_per_s, memory_mb
  std::map<std::string, Points> evaluations;  // fd, kid, ... from "eval" objects
  nlohmann::json last;                        // the last training line
};

RunLog read_metrics(const std::string& path) {
  RunLog log;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception&) {
      continue;  // a line cut by a kill: the resumed run rewrites it
    }
    if (!j.is_object() || !j.contains("step") || !j["step"].is_number()) continue;
    const double step = j["step"].get<double>();
    for (const char* key : {"loss", "lr", "grad_norm", "images_per_s", "memory_mb", "reward", "kl", "disc_acc"})
      if (j.contains(key) && j[key].is_number()) log.series[key].emplace_back(step, j[key].get<double>());
    if (j.contains("eval") && j["eval"].is_object()) {
      for (const auto& [name, value] : j["eval"].items())
        if (value.is_number()) log.evaluations[name].emplace_back(step, value.get<double>());
    } else if (j.contains("loss")) {
      log.last = j;
    }
  }
  return log;
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  return in ? std::string(std::istreambuf_iterator<char>(in), {}) : std::string();
}

std::string summary(const RunLog& log) {
  if (log.last.is_null()) return "<p>No step logged yet.</p>";
  std::ostringstream s;
  s << "<p class='summary'>step " << log.last["step"].get<int64_t>();
  // a window whose steps were all skipped (--on-nonfinite skip) logs a null loss
  auto number = [&](const char* key) { return log.last.contains(key) && log.last[key].is_number(); };
  if (number("loss")) s << " &middot; loss " << log.last["loss"].get<double>();
  if (number("images_per_s"))
    s << " &middot; " << static_cast<int64_t>(log.last["images_per_s"].get<double>()) << " img/s";
  if (number("elapsed_s"))
    s << " &middot; " << static_cast<int64_t>(log.last["elapsed_s"].get<double>()) << " s elapsed";
  s << "</p>";
  return s.str();
}

std::string grid_slider(const std::vector<std::string>& grids) {
  if (grids.empty()) return "<p>No sample grid yet.</p>";
  std::ostringstream html;
  const size_t newest = grids.size() - 1;
  html << "<div id='grids'><input id='grid-step' type='range' min='0' max='" << newest << "' value='" << newest
       << "' style='width:448px'" << (grids.size() == 1 ? " disabled" : "") << "><br>"
       << "<img id='grid-image' src='samples/" << grids[newest]
       << "' alt='sample grid' onload=\"this.setAttribute('data-loaded', '1')\""
       << " style='image-rendering:pixelated;width:448px'><div id='grid-caption'>" << grids[newest]
       << "</div></div>\n<script>\n(function () {\n  var grids = [";
  for (size_t i = 0; i < grids.size(); ++i) html << (i ? ", " : "") << "'" << grids[i] << "'";
  html << "];\n  var slider = document.getElementById('grid-step');\n"
          "  slider.addEventListener('input', function () {\n"
          "    document.getElementById('grid-image').src = 'samples/' + grids[slider.value];\n"
          "    document.getElementById('grid-caption').textContent = grids[slider.value];\n  });\n})();\n</script>\n";
  return html.str();
}
}  // namespace

void write_run_report(const std::string& run_dir) {
  const auto log = read_metrics(run_dir + "/metrics.jsonl");
  auto series = [&](const char* key) {
    auto it = log.series.find(key);
    return it == log.series.end() ? Points{} : it->second;
  };
  std::vector<Chart> charts;
  const auto loss = series("loss");
  charts.push_back({"Training loss",
                    "step",
                    "loss",
                    true,
                    {{"raw", "#9ecae1", loss, 1.0}, {"smoothed (0.9)", "#08519c", smooth(loss, 0.9), 2.0}}});
  charts.push_back({"Learning rate", "step", "learning rate", false, {{"lr", "#2ca02c", series("lr")}}});
  charts.push_back({"Gradient norm (before clipping)",
                    "step",
                    "global L2 norm",
                    true,
                    {{"grad norm", "#d62728", series("grad_norm")}}});
  charts.push_back({"Throughput", "step", "images / s", false, {{"images/s", "#9467bd", series("images_per_s")}}});
  if (!series("memory_mb").empty())
    charts.push_back({"Memory", "step", "MiB", false, {{"memory", "#8c564b", series("memory_mb")}}});
  // DRL finetuning runs (train/drl_finetune.h) log these as well
  if (!series("reward").empty())
    charts.push_back({"Reward (discriminator logit, rollouts)",
                      "step",
                      "mean reward",
                      false,
                      {{"reward", "#17becf", series("reward"), 1.0},
                       {"smoothed (0.9)", "#0b6e79", smooth(series("reward"), 0.9), 2.0}}});
  if (!series("kl").empty())
    charts.push_back({"KL to the base (per dimension)", "step", "KL", false, {{"kl", "#bcbd22", series("kl")}}});
  if (!series("disc_acc").empty())
    charts.push_back({"Discriminator accuracy on policy samples",
                      "step",
                      "share called generated",
                      false,
                      {{"accuracy", "#e377c2", series("disc_acc")}}});
  for (const auto& [name, points] : log.evaluations)
    charts.push_back({"Evaluation: " + name, "step", name, false, {{name, "#ff7f0e", points, 2.0}}});

  std::vector<std::string> grids;
  const auto samples = fs::path(run_dir) / "samples";
  if (fs::is_directory(samples))
    for (const auto& e : fs::directory_iterator(samples))
      if (e.path().extension() == ".png") grids.push_back(e.path().filename().string());
  std::sort(grids.begin(), grids.end());  // step-0001000.png ...: zero-padded, so by step

  std::ostringstream html;
  html << "<!doctype html><html><head><meta charset='utf-8'><title>fluxion run " << html_escape(run_dir)
       << "</title><style>body{font-family:sans-serif;margin:24px;max-width:1200px}"
          ".charts{display:flex;flex-wrap:wrap;gap:12px}figure.chart{margin:0}"
          "figcaption{font-weight:bold;margin:4px 0}pre{background:#f6f6f6;padding:8px;overflow:auto}</style>"
          "</head><body>\n<h1>fluxion run</h1>\n<p>"
       << html_escape(run_dir) << "</p>\n"
       << summary(log) << "\n<h2>Training</h2>\n<div class='charts'>\n";
  for (const auto& chart : charts) html << render_chart(chart) << "\n";
  html << "</div>\n<h2>Samples (fixed noise and labels, EMA weights)</h2>\n"
       << grid_slider(grids) << "<h2>Configuration</h2>\n<pre id='config'>";
  const auto config = read_text(fs::path(run_dir) / "config.json");
  try {
    html << html_escape(config.empty() ? "(no config.json)" : nlohmann::json::parse(config).dump(2));
  } catch (const nlohmann::json::exception&) {
    html << html_escape(config);
  }
  html << "</pre>\n</body></html>\n";
  core::write_file_atomically(run_dir + "/report.html", [&](std::ostream& out) { out << html.str(); });
}

}  // namespace fluxion::train
