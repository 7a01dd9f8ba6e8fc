// Catch2's main, except for skips: a process in which test cases were skipped (test::skip_test)
// and none failed exits with kSkipExitCode, which tests/CMakeLists.txt gives CTest as
// SKIP_RETURN_CODE. CTest runs one test case per process, so that status means "this test was
// skipped"; a direct run of the whole binary exits with it when anything was skipped.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <execinfo.h>
#include <unistd.h>

#include <csignal>

namespace fluxion::test {
int skipped_test_count();  // test_helpers.h, which this file does not include: it pulls in torch
}
namespace fluxion::core {
void restart_with_passive_openmp(char** argv);  // core/openmp_wait.h (this target has no include path)
}

namespace {
constexpr int kSkipExitCode = 77;  // automake's "skipped"

// A crash prints its stack before the process dies: Catch2 reports the signal and then re-raises
// it with the handler it found, this one. The frames are binary(+offset) for
// `addr2line -f -C -e BINARY OFFSET`: machines without a debugger (the GPU host) still say where.
void print_stack_and_die(int signal_number) {
  void* frames[64];
  const int depth = backtrace(frames, 64);
  static const char kHeader[] = "\nfatal signal; stack (addr2line -f -C -e BINARY +OFFSET):\n";
  (void)!write(STDERR_FILENO, kHeader, sizeof(kHeader) - 1);
  backtrace_symbols_fd(frames, depth, STDERR_FILENO);
  std::signal(signal_number, SIG_DFL);
  std::raise(signal_number);
}
}  // namespace

int main(int argc, char* argv[]) {
  fluxion::core::restart_with_passive_openmp(argv);
  for (int signal_number : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) std::signal(signal_number, print_stack_and_die);
  const int status = Catch::Session().run(argc, argv);           // e.g. the number of failed assertions
  if (status != 0) return status == kSkipExitCode ? 1 : status;  // 77 failures are no skip
  return fluxion::test::skipped_test_count() > 0 ? kSkipExitCode : 0;
}
