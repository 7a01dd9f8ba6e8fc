#include "train/run_report.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "core/atomic_file.h"

namespace fluxion::train {

namespace {
std::string loss_curve_svg(const std::vector<std::pair<double, double>>& points) {
  const double width = 640, height = 240, margin = 40;
  std::ostringstream svg;
  svg << "<svg xmlns='http://www.w3.org/2000/svg' width='" << width << "' height='" << height
      << "' style='background:#fff;border:1px solid #ccc'>";
  if (points.size() >= 2) {
    double x0 = points.front().first, x1 = points.back().first;
    double lo = 1e300, hi = -1e300;
    for (const auto& [step, loss] : points) {
      lo = std::min(lo, std::log10(std::max(loss, 1e-12)));
      hi = std::max(hi, std::log10(std::max(loss, 1e-12)));
    }
    if (hi - lo < 1e-9) hi = lo + 1;
    if (x1 <= x0) x1 = x0 + 1;
    svg << "<polyline fill='none' stroke='#1f77b4' stroke-width='1.5' points='";
    for (const auto& [step, loss] : points) {
      const double x = margin + (step - x0) / (x1 - x0) * (width - 2 * margin);
      const double y = height - margin -
                       (std::log10(std::max(loss, 1e-12)) - lo) / (hi - lo) * (height - 2 * margin);
      svg << x << "," << y << " ";
    }
    svg << "'/>";
    svg << "<text x='4' y='" << margin << "' font-size='11'>" << std::pow(10, hi) << "</text>";
    svg << "<text x='4' y='" << height - margin << "' font-size='11'>" << std::pow(10, lo) << "</text>";
    svg << "<text x='" << margin << "' y='" << height - 8 << "' font-size='11'>step " << x0 << "</text>";
    svg << "<text x='" << width - margin - 60 << "' y='" << height - 8 << "' font-size='11'>step " << x1
        << "</text>";
  }
  svg << "</svg>";
  return svg.str();
}
}  // namespace

void write_run_report(const std::string& run_dir) {
  std::vector<std::pair<double, double>> points;
  std::ifstream metrics(run_dir + "/metrics.jsonl");
  std::string line;
  while (std::getline(metrics, line)) {
    try {
      auto j = nlohmann::json::parse(line);
      if (j.contains("step") && j.contains("loss")) points.emplace_back(j["step"].get<double>(), j["loss"].get<double>());
    } catch (const std::exception&) {
    }
  }
  std::vector<std::string> grids;
  const auto samples = std::filesystem::path(run_dir) / "samples";
  if (std::filesystem::is_directory(samples))
    for (const auto& e : std::filesystem::directory_iterator(samples))
      if (e.path().extension() == ".png") grids.push_back(e.path().filename().string());
  std::sort(grids.rbegin(), grids.rend());
  std::ostringstream html;
  html << "<!doctype html><html><head><meta charset='utf-8'><title>fluxion run " << run_dir
       << "</title></head><body style='font-family:sans-serif'>\n<h1>fluxion run</h1>\n<p>"
       << run_dir << "</p>\n<h2>Training loss (log scale)</h2>\n" << loss_curve_svg(points)
       << "\n<h2>Samples (fixed noise and labels, EMA weights)</h2>\n";
  for (const auto& g : grids)
    html << "<figure><img src='samples/" << g << "' style='image-rendering:pixelated;width:448px'><figcaption>"
         << g << "</figcaption></figure>\n";
  html << "</body></html>\n";
  core::write_file_atomically(run_dir + "/report.html", [&](std::ostream& out) { out << html.str(); });
}

}  // namespace fluxion::train
