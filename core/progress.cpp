#include "core/progress.h"

#include "core/log.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <iostream>
#include <sstream>

namespace fluxion::core {

namespace {
constexpr double kTerminalRedrawSeconds = 0.1;
constexpr int kBarWidth = 24;

std::string format_duration(double seconds) {
  const auto total = static_cast<int64_t>(std::max(0.0, seconds) + 0.5);
  char buffer[32];
  if (total >= 3600)
    std::snprintf(buffer, sizeof(buffer), "%lld:%02lld:%02lld", static_cast<long long>(total / 3600),
                  static_cast<long long>(total / 60 % 60), static_cast<long long>(total % 60));
  else
    std::snprintf(buffer, sizeof(buffer), "%lld:%02lld", static_cast<long long>(total / 60),
                  static_cast<long long>(total % 60));
  return buffer;
}

std::string format_rate(double rate) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), rate >= 100 ? "%.0f" : rate >= 10 ? "%.1f" : "%.2f", rate);
  return buffer;
}

double seconds_between(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}
}  // namespace

Progress::Progress(std::string label, int64_t total, std::string unit, std::ostream* out)
    : label_(std::move(label)),
      unit_(std::move(unit)),
      total_(std::max<int64_t>(total, 0)),
      out_(out ? out : &std::cerr),
      tty_(out == nullptr && ::isatty(STDERR_FILENO) == 1),
      silent_(out == nullptr && log_level() > LogLevel::info),
      uncaught_at_start_(std::uncaught_exceptions()),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

Progress::~Progress() {
  if (finished_) return;
  finished_ = true;
  // an exception unwinding past us, or a known total not reached: the work did not complete
  const bool unwinding = std::uncaught_exceptions() > uncaught_at_start_;
  const bool short_of_total = total_ > 0 && done_ < total_;
  try {
    draw(unwinding || short_of_total ? Draw::stopped : Draw::done);
  } catch (...) {  // never throw from a destructor
  }
}

void Progress::set_log_interval(double seconds) { log_interval_ = std::max(0.0, seconds); }

void Progress::update(int64_t n, const std::string& status) {
  if (finished_) return;
  done_ += n;
  if (!status.empty()) status_ = status;
  const auto now = std::chrono::steady_clock::now();
  const double since = seconds_between(last_draw_, now);
  const bool due = tty_ ? since >= kTerminalRedrawSeconds || done_ == n : since >= log_interval_;
  if (due) {
    last_draw_ = now;
    draw(Draw::running);
  }
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  draw(Draw::done);
}

double Progress::rate() const {
  const double elapsed = seconds_between(start_, std::chrono::steady_clock::now());
  return elapsed > 0 ? static_cast<double>(done_) / elapsed : 0.0;
}

void Progress::draw(Draw kind) {
  if (silent_) return;
  const bool final = kind != Draw::running;
  const double elapsed = seconds_between(start_, std::chrono::steady_clock::now());
  const double per_second = rate();
  const bool known = total_ > 0;
  const double remaining = per_second > 0 && known ? (total_ - done_) / per_second : 0.0;
  const std::string count = known ? std::to_string(done_) + "/" + std::to_string(total_) : std::to_string(done_);
  const std::string stopped = "stopped at " + count;
  std::ostringstream line;
  if (tty_) {
    line << '\r' << label_ << "  ";
    if (known) {
      const auto filled = static_cast<int>(kBarWidth * std::min<int64_t>(done_, total_) / total_);
      line << '[' << std::string(filled, '#') << std::string(kBarWidth - filled, '.') << "]  ";
    }
    line << count << ' ' << unit_ << "  " << format_rate(per_second) << ' ' << unit_ << "/s  "
         << format_duration(elapsed);
    if (known && !final) line << '<' << format_duration(remaining);
    if (kind == Draw::stopped) line << "  " << stopped;
    if (!status_.empty()) line << "  " << status_;
    line << "\033[K";
    if (final) line << '\n';
  } else {
    line << label_ << ": " << count << ' ' << unit_;
    if (known) line << " (" << std::min<int64_t>(100, done_ * 100 / total_) << "%)";
    line << ", " << format_rate(per_second) << ' ' << unit_ << "/s, elapsed " << format_duration(elapsed);
    if (known && !final) line << ", ETA " << format_duration(remaining);
    if (kind == Draw::done) line << ", done";
    if (kind == Draw::stopped) line << ", " << stopped;
    if (!status_.empty()) line << " | " << status_;
    line << '\n';
  }
  *out_ << line.str();
  out_->flush();
}

}  // namespace fluxion::core
