// Catch2's main, except for skips: a process in which test cases were skipped (test::skip_test)
// and none failed exits with kSkipExitCode, which tests/CMakeLists.txt gives CTest as
// SKIP_RETURN_CODE. CTest runs one test case per process, so that status means "this test was
// skipped"; a direct run of the whole binary exits with it when anything was skipped.
#define CATCH_CONFIG_RUNNER
// Catch2's own handler would catch a fatal signal on an alternate stack and re-raise it from
// there, which hides where it happened (and hides the fault from AddressSanitizer): the handler
// below runs on the faulting stack instead.
#define CATCH_CONFIG_NO_POSIX_SIGNALS
#include <catch2/catch.hpp>

#include <dlfcn.h>
#include <execinfo.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <cstdio>

namespace fluxion::test {
int skipped_test_count();  // test_helpers.h, which this file does not include: it pulls in torch
}
namespace fluxion::core {
void restart_with_passive_openmp(char** argv);  // core/openmp_wait.h (this target has no include path)
}

namespace {
constexpr int kSkipExitCode = 77;  // automake's "skipped"

// A crash prints where it happened before the process dies: the faulting instruction, the
// backtrace, and every word on the stack that points into a loaded binary (a return address
// survives there even when the frame chain is broken, e.g. after a jump to address 0). Frames are
// BINARY(+OFFSET) for `addr2line -f -C -e BINARY OFFSET`: machines without a debugger (the GPU
// host) still say where.
void print_location(const char* what, const void* address) {
  char line[512];
  Dl_info info{};
  int n;
  if (dladdr(address, &info) != 0 && info.dli_fname != nullptr) {
    n = std::snprintf(
        line, sizeof(line), "  %s %p = %s(+0x%lx) %s\n", what, address, info.dli_fname,
        static_cast<unsigned long>(reinterpret_cast<uintptr_t>(address) - reinterpret_cast<uintptr_t>(info.dli_fbase)),
        info.dli_sname != nullptr ? info.dli_sname : "");
  } else {
    n = std::snprintf(line, sizeof(line), "  %s %p\n", what, address);
  }
  (void)!write(STDERR_FILENO, line, static_cast<size_t>(std::min<int>(n, sizeof(line) - 1)));
}

void print_stack_and_die(int signal_number, siginfo_t* info, void* context) {
  char line[128];
  const int n = std::snprintf(line, sizeof(line), "\nfatal signal %d, fault address %p\n", signal_number,
                              info != nullptr ? info->si_addr : nullptr);
  (void)!write(STDERR_FILENO, line, static_cast<size_t>(n));
#if defined(__x86_64__)
  const auto* registers = static_cast<ucontext_t*>(context)->uc_mcontext.gregs;
  print_location("pc", reinterpret_cast<const void*>(registers[REG_RIP]));
  static const char kScan[] = "stack words that point into loaded binaries (return addresses among them):\n";
  (void)!write(STDERR_FILENO, kScan, sizeof(kScan) - 1);
  const auto* stack = reinterpret_cast<const uintptr_t*>(registers[REG_RSP]);
  for (int i = 0, shown = 0; i < 512 && shown < 48; ++i) {
    Dl_info word_info{};
    if (stack[i] > 4096 && dladdr(reinterpret_cast<const void*>(stack[i]), &word_info) != 0 &&
        word_info.dli_fname != nullptr) {
      print_location("sp word", reinterpret_cast<const void*>(stack[i]));
      ++shown;
    }
  }
#else
  (void)context;
#endif
  void* frames[64];
  const int depth = backtrace(frames, 64);
  static const char kHeader[] = "backtrace (addr2line -f -C -e BINARY +OFFSET):\n";
  (void)!write(STDERR_FILENO, kHeader, sizeof(kHeader) - 1);
  backtrace_symbols_fd(frames, depth, STDERR_FILENO);
  std::signal(signal_number, SIG_DFL);
  std::raise(signal_number);
}
}  // namespace

int main(int argc, char* argv[]) {
  fluxion::core::restart_with_passive_openmp(argv);
  struct sigaction action {};
  action.sa_sigaction = print_stack_and_die;
  action.sa_flags = SA_SIGINFO;
  sigemptyset(&action.sa_mask);
  for (int signal_number : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) sigaction(signal_number, &action, nullptr);
  const int status = Catch::Session().run(argc, argv);           // e.g. the number of failed assertions
  if (status != 0) return status == kSkipExitCode ? 1 : status;  // 77 failures are no skip
  return fluxion::test::skipped_test_count() > 0 ? kSkipExitCode : 0;
}
