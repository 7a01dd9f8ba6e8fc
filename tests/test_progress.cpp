#include <catch2/catch.hpp>

#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/progress.h"

using namespace fluxion;

namespace {
std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}
}  // namespace

TEST_CASE("progress to a log prints plain lines with count, percent, rate and ETA", "[unit][progress]") {
  std::ostringstream out;
  core::Progress progress("train", 10, "step", &out);
  progress.set_log_interval(0);
  progress.update(5, "loss 0.5");
  progress.update(5, "loss 0.25");
  progress.finish();
  const auto lines = lines_of(out.str());
  REQUIRE(lines.size() == 3);
  CHECK(lines[0].rfind("train: 5/10 step (50%), ", 0) == 0);
  CHECK(lines[0].find(" step/s, elapsed 0:00, ETA ") != std::string::npos);
  CHECK(lines[0].find("| loss 0.5") != std::string::npos);
  CHECK(lines[2].rfind("train: 10/10 step (100%), ", 0) == 0);
  CHECK(lines[2].find(", done | loss 0.25") != std::string::npos);
  CHECK(lines[2].find("ETA") == std::string::npos);
  CHECK(out.str().find('\r') == std::string::npos);
  CHECK(out.str().find('\033') == std::string::npos);
}

TEST_CASE("progress to a log is quiet between intervals and finishes once", "[unit][progress]") {
  std::ostringstream out;
  {
    core::Progress progress("sample", 0, "img", &out);
    for (int i = 0; i < 100; ++i) progress.update(7);
    CHECK(out.str().empty());  // the default 5 s interval has not passed
    CHECK(progress.rate() > 0);
  }  // the destructor finishes
  const auto lines = lines_of(out.str());
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].rfind("sample: 700 img, ", 0) == 0);  // unknown total: no percent
  CHECK(lines[0].find(", done") != std::string::npos);
  CHECK(lines[0].find('%') == std::string::npos);
}

TEST_CASE("progress finish is idempotent and stops updates", "[unit][progress]") {
  std::ostringstream out;
  core::Progress progress("eval", 4, "batch", &out);
  progress.set_log_interval(0);
  progress.finish();
  progress.finish();
  progress.update(1);
  const auto lines = lines_of(out.str());
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].rfind("eval: 0/4 batch (0%)", 0) == 0);
}

TEST_CASE("progress ended by an exception says where it stopped, not done", "[unit][progress]") {
  std::ostringstream out;
  try {
    core::Progress progress("train", 100, "step", &out);
    progress.update(37, "loss 0.2");
    throw std::runtime_error("disk full");
  } catch (const std::runtime_error&) {
  }
  auto lines = lines_of(out.str());
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].rfind("train: 37/100 step (37%), ", 0) == 0);
  CHECK(lines[0].find(", stopped at 37/100 | loss 0.2") != std::string::npos);
  CHECK(lines[0].find("done") == std::string::npos);
  CHECK(lines[0].find("ETA") == std::string::npos);

  // unknown total: the exception alone says the work did not complete
  out.str("");
  try {
    core::Progress progress("sample", 0, "img", &out);
    progress.update(700);
    throw std::runtime_error("bad batch");
  } catch (const std::runtime_error&) {
  }
  lines = lines_of(out.str());
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].find(", stopped at 700") != std::string::npos);
  CHECK(lines[0].find("done") == std::string::npos);
}

TEST_CASE("progress destroyed short of its total says where it stopped", "[unit][progress]") {
  std::ostringstream out;
  {
    core::Progress progress("encode", 10, "img", &out);
    progress.update(4);
  }
  {
    core::Progress progress("encode", 10, "img", &out);
    progress.update(10);
  }  // reached: done
  const auto lines = lines_of(out.str());
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].find(", stopped at 4/10") != std::string::npos);
  CHECK(lines[0].find("done") == std::string::npos);
  CHECK(lines[1].find("10/10 img (100%)") != std::string::npos);
  CHECK(lines[1].find(", done") != std::string::npos);
  CHECK(lines[1].find("stopped") == std::string::npos);
}

TEST_CASE("progress made while another exception unwinds still finishes as done", "[unit][progress]") {
  // std::uncaught_exceptions() is compared with its value at construction, so a progress bar
  // living entirely inside a destructor that runs during unwinding is not mistaken for a failure
  std::ostringstream out;
  struct Cleanup {
    std::ostringstream* out;
    ~Cleanup() {
      core::Progress progress("cleanup", 2, "file", out);
      progress.update(2);
    }
  };
  try {
    Cleanup cleanup{&out};
    throw std::runtime_error("failed");
  } catch (const std::runtime_error&) {
  }
  const auto lines = lines_of(out.str());
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].find("cleanup: 2/2 file (100%)") != std::string::npos);
  CHECK(lines[0].find(", done") != std::string::npos);
}
