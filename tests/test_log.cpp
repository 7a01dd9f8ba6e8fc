#include <catch2/catch.hpp>

#include <fstream>
#include <iostream>
#include <sstream>

#include "core/error.h"
#include "core/log.h"
#include "test_helpers.h"

using namespace fluxion;

TEST_CASE("append_jsonl appends one flushed object per line", "[unit][log]") {
  const auto path = test::scratch_dir("log_jsonl") + "/metrics.jsonl";
  core::append_jsonl(path, {{"step", 1}, {"loss", 0.5}});
  core::append_jsonl(path, {{"step", 2}, {"loss", 0.25}, {"note", "a \"quoted\"\nline"}});
  std::ifstream in(path);
  std::vector<nlohmann::json> records;
  for (std::string line; std::getline(in, line);) records.push_back(nlohmann::json::parse(line));
  REQUIRE(records.size() == 2);
  CHECK(records[0]["step"] == 1);
  CHECK(records[1]["loss"] == 0.25);
  CHECK(records[1]["note"] == "a \"quoted\"\nline");
  CHECK_THROWS_AS(core::append_jsonl(path, nlohmann::json::array({1, 2})), Error);
  CHECK_THROWS_WITH(core::append_jsonl("/nonexistent-dir/x.jsonl", {{"a", 1}}),
                    Catch::Contains("/nonexistent-dir/x.jsonl"));
}

TEST_CASE("log lines are timestamped and filtered by level", "[unit][log]") {
  std::ostringstream captured;
  auto* previous = std::cerr.rdbuf(captured.rdbuf());
  core::set_log_level(core::LogLevel::warn);
  core::log_info("hidden info");
  core::log_warn("shown warning");
  core::set_log_level(core::LogLevel::debug);
  core::log_debug("shown debug");
  core::set_log_level(core::LogLevel::info);
  core::log_debug("hidden debug");
  std::cerr.rdbuf(previous);
  const std::string text = captured.str();
  INFO(text);
  CHECK(text.find("hidden") == std::string::npos);
  std::istringstream lines(text);
  std::string first, second, third;
  std::getline(lines, first);
  std::getline(lines, second);
  CHECK_FALSE(std::getline(lines, third));
  // "[fluxion] 12:00:01 warn  shown warning"
  REQUIRE(first.size() > 19);
  CHECK(first.rfind("[fluxion] ", 0) == 0);
  CHECK(first[12] == ':');
  CHECK(first[15] == ':');
  CHECK(first.substr(18) == " warn  shown warning");
  CHECK(second.substr(18) == " debug shown debug");
}
