// core/crash_report.h: a fluxion process that dies of a fault says which signal and where, then
// dies of that signal as before (the exit status a shell or a launcher sees is unchanged).
#include <catch2/catch.hpp>

#include <string>

#include "test_helpers.h"

using namespace fluxion;

TEST_CASE("a crashing fluxion names the signal, prints its call stack and dies of the signal", "[e2e][cli]") {
  const auto dir = test::scratch_dir("crash_report");
  // A fault from outside (kill -SEGV) reaches the same handler as one from inside; the bench loop
  // keeps the process busy until it arrives.
  test::write_bytes(dir + "/crash.sh", std::string("\"") + FLUXION_BINARY +
                                           "\" bench --what train --model SiT-T/4 --device cpu --batch 2 "
                                           "--iterations 1000000 >" +
                                           dir +
                                           "/log 2>&1 &\n"
                                           "P=$!\n"
                                           // a second of CPU time: past loading and main's first lines
                                           // however slow the machine (utime + stime in 1/100 s)
                                           "for i in $(seq 1200); do\n"
                                           "  t=$(awk '{print $14 + $15}' /proc/$P/stat 2>/dev/null || echo 0)\n"
                                           "  [ \"${t:-0}\" -ge 100 ] && break; sleep 0.1\n"
                                           "done\n"
                                           "kill -SEGV $P\n"
                                           "wait $P; echo \"exit status $?\"\n");
  const auto crashed = test::run_shell("bash " + dir + "/crash.sh");
  const auto log = test::read_bytes(dir + "/log");
  INFO(crashed.output << log);
  CHECK(crashed.output.find("exit status 139") != std::string::npos);  // 128 + SIGSEGV
  const auto header = log.find("fluxion: fatal signal SEGV (Segmentation fault); call stack:\n");
  REQUIRE(header != std::string::npos);
  // frames follow, one per line, as backtrace_symbols_fd writes them: "binary(symbol+offset)[address]"
  const auto frames = log.substr(header);
  CHECK(frames.find(")[0x") != std::string::npos);
  CHECK(frames.find("libc.so") != std::string::npos);
}
