#pragma once
// fluxion's one exception type. Library code throws it with the offending file or field and the
// bad value in the message; the CLI's main catches it, prints the one line and exits non-zero.
#include <sstream>
#include <stdexcept>
#include <string>

namespace fluxion {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

namespace detail {
inline void append_all(std::ostringstream&) {}
template <typename T, typename... Rest>
void append_all(std::ostringstream& out, const T& first, const Rest&... rest) {
  out << first;
  append_all(out, rest...);
}
}  // namespace detail

// Concatenates its arguments with operator<< into one message.
template <typename... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream out;
  detail::append_all(out, parts...);
  return out.str();
}

template <typename... Parts>
[[noreturn]] void fail(const Parts&... parts) {
  throw Error(concat(parts...));
}

}  // namespace fluxion

// FLUXION_CHECK(cond, "file ", path, ": bad header") throws fluxion::Error when cond is false.
#define FLUXION_CHECK(cond, ...)               \
  do {                                         \
    if (!(cond)) ::fluxion::fail(__VA_ARGS__); \
  } while (0)
