#pragma once
// Structured logging: human lines on stderr ("[fluxion] 12:00:01 info  message") and, where a
// run directory asks for it, JSON lines appended to a file (metrics.jsonl).
#include <nlohmann/json.hpp>

#include <string>

namespace fluxion::core {

enum class LogLevel { debug = 0, info = 1, warn = 2, error = 3 };

void set_log_level(LogLevel level);  // also from env FLUXION_LOG=debug|info|warn|error
LogLevel log_level();
void log(LogLevel level, const std::string& message);
inline void log_info(const std::string& m) { log(LogLevel::info, m); }
inline void log_warn(const std::string& m) { log(LogLevel::warn, m); }
inline void log_debug(const std::string& m) { log(LogLevel::debug, m); }

// Appends one JSON object as a line to `path` (flushed at once, so a killed run keeps its log).
void append_jsonl(const std::string& path, const nlohmann::json& record);

}  // namespace fluxion::core
