// report.html (train/run_report.h): what it shows from a run directory, and (label slow) that a
// real headless browser renders its charts and loads its grids.
#include <catch2/catch.hpp>

#include <filesystem>
#include <regex>

#include "core/image_io.h"
#include "test_helpers.h"
#include "train/report_chart.h"
#include "train/run_report.h"

using namespace fluxion;

namespace {
int count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// A run folder with 40 logged steps, one evaluation, a line cut by a kill, three grids and a config.
std::string make_run(const std::string& name) {
  const auto run = test::scratch_dir(name);
  std::string metrics;
  for (int step = 1; step <= 40; ++step) {
    metrics += "{\"step\": " + std::to_string(step) + ", \"loss\": " + std::to_string(1.0 / step) +
               ", \"lr\": 0.001, \"grad_norm\": 2.5, \"images_per_s\": 120.0, \"memory_mb\": 512, \"elapsed_s\": " +
               std::to_string(step * 0.5) + "}\n";
    if (step == 20) metrics += "{\"step\": 20, \"eval\": {\"fd\": 87.5}}\n";
  }
  metrics += "{\"step\": 41, \"lo";  // cut by a kill
  test::write_bytes(run + "/metrics.jsonl", metrics);
  std::filesystem::create_directories(run + "/samples");
  for (int k = 1; k <= 3; ++k)
    core::write_png(run + "/samples/step-00000" + std::to_string(k) + "0.png",
                    torch::full({3, 8, 8}, 60 * k, torch::kUInt8));
  test::write_bytes(run + "/config.json", "{\"model\": \"SiT-T/4\", \"note\": \"<b>\"}");
  return run;
}
}  // namespace

TEST_CASE("report.html charts every logged quantity and holds every grid", "[unit]") {
  const auto run = make_run("report_unit");
  train::write_run_report(run);
  const auto html = test::read_bytes(run + "/report.html");
  for (const char* title :
       {"Training loss", "Learning rate", "Gradient norm", "Throughput", "Memory", "Evaluation: fd"})
    CHECK(html.find(title) != std::string::npos);
  CHECK(count(html, "<svg") == 6);
  CHECK(count(html, "class='series'") == 6);  // raw and smoothed loss, lr, norm, throughput, memory; fd is one point
  CHECK(html.find("(log scale)") != std::string::npos);
  CHECK(html.find("class='x-label'") != std::string::npos);
  CHECK(html.find("step 40 &middot; loss 0.025") != std::string::npos);
  // the slider spans the three grids and starts at the newest
  CHECK(html.find("max='2' value='2'") != std::string::npos);
  CHECK(html.find("src='samples/step-0000030.png'") != std::string::npos);
  CHECK(html.find("'step-0000010.png', 'step-0000020.png', 'step-0000030.png'") != std::string::npos);
  // the config, escaped
  CHECK(html.find("&lt;b&gt;") != std::string::npos);

  // a window of skipped non-finite steps logs a null loss
  test::write_bytes(run + "/metrics.jsonl", "{\"step\": 5, \"loss\": null, \"skipped\": 5}\n");
  REQUIRE_NOTHROW(train::write_run_report(run));
  CHECK(test::read_bytes(run + "/report.html").find("step 5</p>") != std::string::npos);
}

TEST_CASE("report charts: round ticks and TensorBoard smoothing", "[unit]") {
  CHECK(train::nice_ticks(0, 100, 5) == std::vector<double>{0, 20, 40, 60, 80, 100});
  auto ticks = train::nice_ticks(0.13, 0.61, 4);  // step 0.2: 0.12 rounded up to 1, 2 or 5 x 10^k
  REQUIRE(ticks.size() == 3);
  CHECK(ticks[0] == Approx(0.2));
  CHECK(ticks[2] == Approx(0.6));
  // debiased EMA: the first value is the first point, then (0.5 * 2 + 0.5 * 4) ... debiased
  auto s = train::smooth({{1, 2.0}, {2, 4.0}}, 0.5);
  REQUIRE(s.size() == 2);
  CHECK(s[0].second == Approx(2.0));
  CHECK(s[1].second == Approx((0.5 * 1.0 + 2.0) / 0.75));
  CHECK(train::render_chart({"empty", "step", "y", false, {}}).find("no data yet") != std::string::npos);
}

TEST_CASE("report.html renders in a headless browser", "[slow]") {
  std::string browser;
  for (const char* name : {"chromium", "chromium-browser", "google-chrome"})
    if (test::run_shell(std::string("command -v ") + name + " >/dev/null 2>&1").exit_code == 0) browser = name;
  if (browser.empty()) test::skip_test("no chromium (Debian: apt-get install chromium)");
  const auto run = make_run("report_browser");
  train::write_run_report(run);
  auto dom = test::run_shell(browser +
                             " --headless --disable-gpu --no-sandbox --allow-file-access-from-files "
                             "--virtual-time-budget=3000 --dump-dom file://" +
                             std::filesystem::absolute(run + "/report.html").string() + " 2>/dev/null");
  REQUIRE(dom.exit_code == 0);
  CHECK(count(dom.output, "<svg") == 6);
  CHECK(count(dom.output, "<polyline") == 6);
  // the grid image was decoded by the browser (its onload ran)
  CHECK(std::regex_search(
      dom.output, std::regex("id=\"grid-image\"[^>]*data-loaded=\"1\"|data-loaded=\"1\"[^>]*id=\"grid-image\"")));
}
