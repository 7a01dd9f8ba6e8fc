#pragma once
// A progress bar with rate and ETA. On a terminal it redraws one line; otherwise (CI, pipes,
// files) it prints a plain line every few seconds and a final line, so logs stay readable.
#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>

namespace fluxion::core {

class Progress {
 public:
  // total = 0 for unknown length. `unit` names what is counted ("img", "step"). With out = nullptr
  // it writes to stderr and redraws in place when stderr is a terminal, and stays silent when the
  // log level is above info (ranks other than 0 of a data-parallel run); a given stream is
  // treated as a log (plain lines).
  //   terminal: "sample  [#######.....]  700/1000 img  35.2 img/s  0:20<0:08  loss 0.1"
  //   log:      "sample: 700/1000 img (70%), 35.2 img/s, elapsed 0:20, ETA 0:08 | loss 0.1"
  Progress(std::string label, int64_t total, std::string unit = "it", std::ostream* out = nullptr);
  // Finishes the line if finish() was not called. Destroyed while an exception unwinds, or short
  // of a known total, the work ended early: the line says so instead of "done",
  //   log: "train: 37/100 step (37%), 3.10 step/s, elapsed 0:12, stopped at 37/100 | loss 0.2"
  ~Progress();

  // Advances by n and sets the trailing status text (e.g. "loss 0.123").
  void update(int64_t n = 1, const std::string& status = "");
  // The work is complete: the final line says "done".
  void finish();
  double rate() const;  // units per second so far
  // Seconds between plain log lines (default 5; 0 prints every update). Terminal redraws are
  // capped at 10 per second regardless.
  void set_log_interval(double seconds);

 private:
  enum class Draw { running, done, stopped };
  void draw(Draw kind);
  std::string label_, unit_, status_;
  int64_t total_, done_ = 0;
  std::ostream* out_;
  bool tty_, silent_, finished_ = false;
  double log_interval_ = 5.0;
  int uncaught_at_start_;  // std::uncaught_exceptions() when constructed
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace fluxion::core
