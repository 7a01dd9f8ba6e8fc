#include "train/report_chart.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <limits>
#include <sstream>

namespace fluxion::train {

std::string html_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '\'': out += "&#39;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

namespace {
constexpr double kWidth = 560, kHeight = 260;
constexpr double kLeft = 64, kRight = 16, kTop = 28, kBottom = 44;

// Short tick labels: 0.0012, 3.5e+04, 120.
std::string label(double v) {
  std::ostringstream s;
  if (v != 0 && (std::fabs(v) >= 1e5 || std::fabs(v) < 1e-3)) {
    s << std::setprecision(2) << std::scientific << v;
  } else {
    s << std::setprecision(4) << v;
  }
  return s.str();
}
}  // namespace

std::vector<double> nice_ticks(double lo, double hi, int count) {
  if (!(hi > lo)) return {lo};
  const double raw = (hi - lo) / std::max(count, 1);
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = magnitude;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    step = m * magnitude;
    if (step >= raw) break;
  }
  std::vector<double> ticks;
  for (double t = std::ceil(lo / step) * step; t <= hi + step * 1e-9; t += step)
    ticks.push_back(std::fabs(t) < step * 1e-9 ? 0.0 : t);
  return ticks;
}

std::vector<std::pair<double, double>> smooth(const std::vector<std::pair<double, double>>& points, double weight) {
  std::vector<std::pair<double, double>> out;
  double last = 0.0, debias = 1.0;
  for (const auto& [x, y] : points) {
    if (!std::isfinite(y)) continue;
    last = last * weight + (1 - weight) * y;
    debias *= weight;
    out.emplace_back(x, last / (1 - debias));
  }
  return out;
}

std::string render_chart(const Chart& chart) {
  double x0 = std::numeric_limits<double>::infinity(), x1 = -x0, y0 = x0, y1 = -x0;
  auto y_of = [&](double y) { return chart.log_y ? std::log10(y) : y; };
  auto usable = [&](double y) { return std::isfinite(y) && (!chart.log_y || y > 0); };
  size_t points = 0;
  for (const auto& s : chart.series)
    for (const auto& [x, y] : s.points)
      if (usable(y)) {
        x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y_of(y)), y1 = std::max(y1, y_of(y));
        ++points;
      }
  std::ostringstream svg;
  svg << "<figure class='chart'><figcaption>" << html_escape(chart.title) << "</figcaption>"
      << "<svg xmlns='http://www.w3.org/2000/svg' width='" << kWidth << "' height='" << kHeight << "' viewBox='0 0 "
      << kWidth << " " << kHeight << "' role='img' aria-label='" << html_escape(chart.title) << "'>";
  if (points == 0) {
    svg << "<text x='" << kWidth / 2 << "' y='" << kHeight / 2
        << "' text-anchor='middle' fill='#888'>no data yet</text></svg></figure>";
    return svg.str();
  }
  if (x1 <= x0) x1 = x0 + 1;
  if (y1 - y0 < 1e-12) y0 -= 0.5, y1 += 0.5;
  const double pad = (y1 - y0) * 0.05;
  y0 -= pad, y1 += pad;
  const double plot_w = kWidth - kLeft - kRight, plot_h = kHeight - kTop - kBottom;
  auto px = [&](double x) { return kLeft + (x - x0) / (x1 - x0) * plot_w; };
  auto py = [&](double y) { return kTop + (1 - (y - y0) / (y1 - y0)) * plot_h; };
  svg << std::fixed << std::setprecision(1);
  svg << "<rect x='" << kLeft << "' y='" << kTop << "' width='" << plot_w << "' height='" << plot_h
      << "' fill='#fff' stroke='#bbb'/>";
  // y ticks: round values, or powers of ten (and 2x, 5x) on a log axis
  std::vector<double> y_ticks;
  if (chart.log_y) {
    for (double e = std::floor(y0); e <= std::ceil(y1); e += 1)
      for (double m : {1.0, 2.0, 5.0}) {
        const double v = e + std::log10(m);
        if (v >= y0 && v <= y1 && (y1 - y0 < 3 || m == 1.0)) y_ticks.push_back(v);
      }
  } else {
    y_ticks = nice_ticks(y0, y1);
  }
  for (double t : y_ticks) {
    svg << "<line class='grid' x1='" << kLeft << "' x2='" << kLeft + plot_w << "' y1='" << py(t) << "' y2='" << py(t)
        << "' stroke='#eee'/><text x='" << kLeft - 6 << "' y='" << py(t) + 4 << "' font-size='11' text-anchor='end'>"
        << label(chart.log_y ? std::pow(10.0, t) : t) << "</text>";
  }
  for (double t : nice_ticks(x0, x1)) {
    svg << "<line x1='" << px(t) << "' x2='" << px(t) << "' y1='" << kTop + plot_h << "' y2='" << kTop + plot_h + 4
        << "' stroke='#888'/><text x='" << px(t) << "' y='" << kTop + plot_h + 16
        << "' font-size='11' text-anchor='middle'>" << label(t) << "</text>";
  }
  svg << "<text class='x-label' x='" << kLeft + plot_w / 2 << "' y='" << kHeight - 8
      << "' font-size='12' text-anchor='middle'>" << html_escape(chart.x_label) << "</text>"
      << "<text class='y-label' transform='translate(14 " << kTop + plot_h / 2
      << ") rotate(-90)' font-size='12' text-anchor='middle'>" << html_escape(chart.y_label)
      << (chart.log_y ? " (log scale)" : "") << "</text>";
  double legend_x = kLeft + 8;
  for (const auto& s : chart.series) {
    std::vector<std::pair<double, double>> shown;
    for (const auto& [x, y] : s.points)
      if (usable(y)) shown.emplace_back(x, y_of(y));
    if (shown.size() == 1) {
      svg << "<circle cx='" << px(shown[0].first) << "' cy='" << py(shown[0].second) << "' r='3' fill='" << s.color
          << "'/>";
    } else if (!shown.empty()) {
      svg << "<polyline class='series' fill='none' stroke='" << s.color << "' stroke-width='" << s.width
          << "' points='";
      for (const auto& [x, y] : shown) svg << px(x) << "," << py(y) << " ";
      svg << "'><title>" << html_escape(s.name) << "</title></polyline>";
    }
    if (chart.series.size() > 1) {
      svg << "<rect x='" << legend_x << "' y='" << kTop + 6 << "' width='10' height='3' fill='" << s.color
          << "'/><text x='" << legend_x + 14 << "' y='" << kTop + 11 << "' font-size='11'>" << html_escape(s.name)
          << "</text>";
      legend_x += 24 + 7.0 * s.name.size();
    }
  }
  svg << "</svg></figure>";
  return svg.str();
}

}  // namespace fluxion::train
