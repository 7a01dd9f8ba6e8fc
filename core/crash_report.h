#pragma once
// A crash (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT) prints one line naming the signal and the
// call stack before the process dies of it as before (same exit status, core dump if enabled):
// on a machine without a debugger, such as a rented GPU host, the stack is the only clue.
namespace fluxion::core {

// Installs the handlers; call once, early in main().
void report_crashes();

}  // namespace fluxion::core
