// fluxion launch --nproc N [--master-port P] -- train ...: N local ranks of a fluxion command with
// torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR,
// MASTER_PORT). SIGINT/SIGTERM are forwarded to the ranks; when one rank fails, the others are
// stopped (SIGTERM, SIGKILL after 10 s) and launch exits non-zero naming that rank.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "tools/commands.h"

namespace fluxion::cli {

namespace {

struct LaunchConfig {
  int nproc = 1;
  int master_port = 0;  // 0: a free port
  std::string master_addr = "127.0.0.1";
  int timeout = 0;  // seconds; 0 keeps FLUXION_DIST_TIMEOUT (default 600)
  std::vector<std::string> command;
};

// The children, for the signal handler.
std::vector<pid_t> g_children;
volatile std::sig_atomic_t g_signal = 0;

void forward_signal(int sig) {
  g_signal = sig;
  for (pid_t pid : g_children)
    if (pid > 0) ::kill(pid, sig);
}

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  FLUXION_CHECK(fd >= 0, "launch: cannot open a socket to find a free port: ", std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t length = sizeof(addr);
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length) == 0;
  ::close(fd);
  FLUXION_CHECK(ok, "launch: cannot find a free port (give --master-port)");
  return ntohs(addr.sin_port);
}

std::string self_path() {
  std::vector<char> buffer(4096);
  const ssize_t n = ::readlink("/proc/self/exe", buffer.data(), buffer.size() - 1);
  FLUXION_CHECK(n > 0, "launch: cannot find the fluxion binary (/proc/self/exe)");
  return std::string(buffer.data(), static_cast<size_t>(n));
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status))
    return concat("was killed by signal ", WTERMSIG(status), " (", strsignal(WTERMSIG(status)), ")");
  return "stopped";
}

void run_launch(const LaunchConfig& c) {
  FLUXION_CHECK(c.nproc >= 1, "launch: --nproc must be at least 1, got ", c.nproc);
  FLUXION_CHECK(!c.command.empty(), "launch: no command after '--' (e.g. fluxion launch --nproc 2 -- train ...)");
  const std::string binary = self_path();
  const int port = c.master_port > 0 ? c.master_port : free_port();
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  const std::string threads = std::to_string(std::max(1u, cores / static_cast<unsigned>(c.nproc)));

  struct sigaction action {};
  action.sa_handler = forward_signal;
  sigemptyset(&action.sa_mask);
  struct sigaction old_int {
  }, old_term{};
  ::sigaction(SIGINT, &action, &old_int);
  ::sigaction(SIGTERM, &action, &old_term);

  g_children.assign(static_cast<size_t>(c.nproc), 0);
  for (int rank = 0; rank < c.nproc; ++rank) {
    const pid_t pid = ::fork();
    FLUXION_CHECK(pid >= 0, "launch: fork failed: ", std::strerror(errno));
    if (pid == 0) {
      ::signal(SIGINT, SIG_DFL);
      ::signal(SIGTERM, SIG_DFL);
      ::setenv("RANK", std::to_string(rank).c_str(), 1);
      ::setenv("LOCAL_RANK", std::to_string(rank).c_str(), 1);
      ::setenv("WORLD_SIZE", std::to_string(c.nproc).c_str(), 1);
      ::setenv("LOCAL_WORLD_SIZE", std::to_string(c.nproc).c_str(), 1);
      ::setenv("MASTER_ADDR", c.master_addr.c_str(), 1);
      ::setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
      if (c.timeout > 0) ::setenv("FLUXION_DIST_TIMEOUT", std::to_string(c.timeout).c_str(), 1);
      ::setenv("OMP_NUM_THREADS", threads.c_str(), 0);  // the cores shared between the ranks
      std::vector<char*> argv;
      argv.push_back(const_cast<char*>(binary.c_str()));
      for (const auto& arg : c.command) argv.push_back(const_cast<char*>(arg.c_str()));
      argv.push_back(nullptr);
      ::execv(binary.c_str(), argv.data());
      std::cerr << "fluxion launch: cannot run " << binary << ": " << std::strerror(errno) << "\n";
      ::_exit(127);
    }
    g_children[static_cast<size_t>(rank)] = pid;
  }

  std::string failure;  // the first rank that failed
  int running = c.nproc;
  bool stopping = false;
  auto stop_deadline = std::chrono::steady_clock::time_point::max();
  while (running > 0) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid > 0) {
      const auto it = std::find(g_children.begin(), g_children.end(), pid);
      if (it == g_children.end()) continue;
      const int rank = static_cast<int>(it - g_children.begin());
      *it = 0;
      --running;
      const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
      if (!ok && !stopping) {
        failure = concat("rank ", rank, " (pid ", pid, ") ", describe_status(status));
        std::cerr << "fluxion launch: " << failure << "; stopping the other ranks\n";
        stopping = true;
        stop_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        for (pid_t other : g_children)
          if (other > 0) ::kill(other, SIGTERM);
      }
      continue;
    }
    if (pid < 0 && errno != EINTR) break;  // no children left
    if (stopping && std::chrono::steady_clock::now() > stop_deadline) {
      for (pid_t other : g_children)
        if (other > 0) ::kill(other, SIGKILL);
      stop_deadline = std::chrono::steady_clock::time_point::max();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::sigaction(SIGINT, &old_int, nullptr);
  ::sigaction(SIGTERM, &old_term, nullptr);
  g_children.clear();
  FLUXION_CHECK(failure.empty(), "launch: ", failure, "; the other ranks were stopped");
  FLUXION_CHECK(g_signal == 0, "launch: interrupted by signal ", static_cast<int>(g_signal),
                " (forwarded to the ranks)");
}

}  // namespace

void add_launch(CLI::App& app) {
  auto* sub = app.add_subcommand("launch",
                                 "run N local ranks of a command (data-parallel training): "
                                 "fluxion launch --nproc 2 -- train ...");
  auto config = std::make_shared<LaunchConfig>();
  auto& c = *config;
  sub->add_option("--nproc", c.nproc, "ranks to start on this machine")->required();
  sub->add_option("--master-port", c.master_port, "rendezvous TCP port (0: a free one)")->capture_default_str();
  sub->add_option("--master-addr", c.master_addr, "rendezvous address (rank 0's host)")->capture_default_str();
  sub->add_option("--timeout", c.timeout,
                  "seconds a collective may wait for a dead or hung rank (FLUXION_DIST_TIMEOUT; 0: 600)")
      ->capture_default_str();
  sub->add_option("command", c.command, "the fluxion command after '--', e.g. train --batch 256 ...");
  sub->callback([config] { run_launch(*config); });
}

}  // namespace fluxion::cli
