#pragma once
// Line charts as inline SVG for report.html: labelled axes with round-number ticks, one or more
// series, linear or log10 y. No scripts; the report embeds the returned markup as it is.
#include <string>
#include <utility>
#include <vector>

namespace fluxion::train {

struct ChartSeries {
  std::string name;
  std::string color;                              // CSS colour
  std::vector<std::pair<double, double>> points;  // (x, y), x increasing
  double width = 1.5;
};

struct Chart {
  std::string title;
  std::string x_label = "step";
  std::string y_label;
  bool log_y = false;  // log10 axis; non-positive values are left out
  std::vector<ChartSeries> series;
};

// Text for HTML content or a quoted attribute (& < > ' " escaped).
std::string html_escape(const std::string& text);

// "<figure>..<svg>..</svg></figure>"; a chart without points says "no data yet".
std::string render_chart(const Chart& chart);

// TensorBoard's smoothing: an exponential moving average with debiasing (weight in [0, 1)).
std::vector<std::pair<double, double>> smooth(const std::vector<std::pair<double, double>>& points, double weight);

// About `count` round tick values (1, 2, 5 x 10^k steps) covering [lo, hi].
std::vector<double> nice_ticks(double lo, double hi, int count = 5);

}  // namespace fluxion::train
