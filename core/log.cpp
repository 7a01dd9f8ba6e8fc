#include "core/log.h"

#include "core/error.h"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <mutex>

namespace fluxion::core {

namespace {
std::mutex& log_mutex() {
  static std::mutex mutex;
  return mutex;
}

LogLevel level_from_env() {
  const char* env = std::getenv("FLUXION_LOG");
  if (!env) return LogLevel::info;
  const std::string value = env;
  if (value == "debug") return LogLevel::debug;
  if (value == "info" || value.empty()) return LogLevel::info;
  if (value == "warn" || value == "warning") return LogLevel::warn;
  if (value == "error") return LogLevel::error;
  std::cerr << "[fluxion] ignoring FLUXION_LOG=" << value << " (expected debug, info, warn or error)\n";
  return LogLevel::info;
}

std::atomic<int>& current_level() {
  static std::atomic<int> level{static_cast<int>(level_from_env())};
  return level;
}

const char* level_name(LogLevel level) {
  switch (level) {
    case LogLevel::debug: return "debug";
    case LogLevel::info: return "info ";
    case LogLevel::warn: return "warn ";
    case LogLevel::error: return "error";
  }
  return "?    ";
}
}  // namespace

void set_log_level(LogLevel level) { current_level() = static_cast<int>(level); }
LogLevel log_level() { return static_cast<LogLevel>(current_level().load()); }

void log(LogLevel level, const std::string& message) {
  if (static_cast<int>(level) < current_level().load()) return;
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm local{};
  ::localtime_r(&now, &local);
  char clock[16];
  std::strftime(clock, sizeof(clock), "%H:%M:%S", &local);
  std::lock_guard<std::mutex> lock(log_mutex());
  std::cerr << "[fluxion] " << clock << ' ' << level_name(level) << ' ' << message << '\n';
  std::cerr.flush();
}

void append_jsonl(const std::string& path, const nlohmann::json& record) {
  FLUXION_CHECK(record.is_object(), "append_jsonl ", path, ": record must be a JSON object, got ", record.type_name());
  const std::string line = record.dump() + "\n";
  std::lock_guard<std::mutex> lock(log_mutex());
  std::ofstream out(path, std::ios::binary | std::ios::app);
  FLUXION_CHECK(out.good(), "append_jsonl ", path, ": cannot open for appending: ", std::strerror(errno));
  out.write(line.data(), static_cast<std::streamsize>(line.size()));
  out.flush();
  FLUXION_CHECK(out.good(), "append_jsonl ", path, ": write failed: ", std::strerror(errno));
}

}  // namespace fluxion::core
