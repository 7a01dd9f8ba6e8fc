#include "core/crash_report.h"

#include <execinfo.h>
#include <signal.h>
#include <unistd.h>

#include <cstring>
#include <initializer_list>

namespace fluxion::core {
namespace {

void write_text(const char* text) {
  // write() may be cut short; the report is best effort, so the result is deliberately ignored
  [[maybe_unused]] const auto written = ::write(STDERR_FILENO, text, std::strlen(text));
}

// Only async-signal-safe calls: write, backtrace_symbols_fd (backtrace was called once before so
// that libgcc is already loaded), sigaction, raise.
void on_fatal_signal(int signal_number) {
  write_text("fluxion: fatal signal ");
  write_text(sigabbrev_np(signal_number) ? sigabbrev_np(signal_number) : "?");
  write_text(" (");
  write_text(sigdescr_np(signal_number) ? sigdescr_np(signal_number) : "unknown");
  write_text("); call stack:\n");
  void* frames[64];
  const int count = ::backtrace(frames, 64);
  ::backtrace_symbols_fd(frames, count, STDERR_FILENO);
  struct sigaction default_action {};
  default_action.sa_handler = SIG_DFL;
  ::sigemptyset(&default_action.sa_mask);
  ::sigaction(signal_number, &default_action, nullptr);
  ::raise(signal_number);
}

}  // namespace

void report_crashes() {
  void* warm_up[1];
  ::backtrace(warm_up, 1);
  struct sigaction action {};
  action.sa_handler = on_fatal_signal;
  ::sigemptyset(&action.sa_mask);
  // SA_RESETHAND: a second fault inside the handler dies at once instead of looping
  action.sa_flags = SA_RESETHAND | SA_NODEFER;
  for (const int signal_number : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT})
    ::sigaction(signal_number, &action, nullptr);
}

}  // namespace fluxion::core
