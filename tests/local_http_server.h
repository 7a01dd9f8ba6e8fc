#pragma once
// A tiny HTTP/1.1 server on 127.0.0.1 for the download tests, so that they need no network and
// no Python: it serves files registered from memory (one request per connection, then close),
// answers 404 for anything else, and can drop the connection half-way through a body on purpose.
// Header-only: the tests that use it are the only code that needs it.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

namespace fluxion::test {

class LocalHttpServer {
 public:
  LocalHttpServer() {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;  // any free port
    socklen_t length = sizeof address;
    if (listener_ < 0 || ::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(listener_, 16) != 0 || ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) != 0)
      throw std::runtime_error("LocalHttpServer: cannot listen on 127.0.0.1");
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { loop(); });
  }

  ~LocalHttpServer() {
    stop_ = true;
    thread_.join();
    ::close(listener_);
  }

  LocalHttpServer(const LocalHttpServer&) = delete;
  LocalHttpServer& operator=(const LocalHttpServer&) = delete;

  // Serves `body` at `path` ("/a/b.pth"); with drop_midway, sends the full Content-Length header
  // but only half of the body, then closes the connection.
  void serve(const std::string& path, std::string body, bool drop_midway = false) {
    std::lock_guard<std::mutex> lock(mutex_);
    files_[path] = {std::make_shared<const std::string>(std::move(body)), drop_midway};
  }

  // "http://127.0.0.1:PORT" followed by `path`
  std::string url(const std::string& path = "") const { return "http://127.0.0.1:" + std::to_string(port_) + path; }

  // GET requests seen for `path`, served or not
  int requests(const std::string& path) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = requests_.find(path);
    return it == requests_.end() ? 0 : it->second;
  }

 private:
  struct File {
    std::shared_ptr<const std::string> body;  // shared, not copied, by a request in flight
    bool drop_midway = false;
  };

  void loop() {
    while (!stop_) {
      pollfd ready{listener_, POLLIN, 0};
      if (::poll(&ready, 1, 50) <= 0) continue;  // wakes up to notice stop_
      const int connection = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (connection < 0) continue;
      handle(connection);
      ::close(connection);
    }
  }

  static bool send_all(int connection, const char* data, size_t size) {
    while (size > 0) {
      const ssize_t sent = ::send(connection, data, size, MSG_NOSIGNAL);
      if (sent <= 0) return false;  // the client went away
      data += sent;
      size -= static_cast<size_t>(sent);
    }
    return true;
  }

  void handle(int connection) {
    std::string request;
    char buffer[4096];
    while (request.find("\r\n\r\n") == std::string::npos) {
      const ssize_t got = ::recv(connection, buffer, sizeof buffer, 0);
      if (got <= 0) return;
      request.append(buffer, static_cast<size_t>(got));
    }
    // "GET /path HTTP/1.1"
    const auto first_space = request.find(' ');
    const auto second_space = request.find(' ', first_space + 1);
    const std::string path = request.substr(first_space + 1, second_space - first_space - 1);
    File file;
    bool found = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ++requests_[path];
      auto it = files_.find(path);
      if (it != files_.end()) {
        file = it->second;
        found = true;
      }
    }
    if (!found) {
      const std::string response = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
      send_all(connection, response.data(), response.size());
      return;
    }
    const std::string head = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: " +
                             std::to_string(file.body->size()) + "\r\nConnection: close\r\n\r\n";
    if (!send_all(connection, head.data(), head.size())) return;
    const size_t size = file.drop_midway ? file.body->size() / 2 : file.body->size();
    send_all(connection, file.body->data(), size);
  }

  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  mutable std::mutex mutex_;
  std::map<std::string, File> files_;
  std::map<std::string, int> requests_;
};

}  // namespace fluxion::test
