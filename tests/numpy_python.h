#pragma once
// Running small numpy scripts from the I/O tests: finds a python3 that has numpy (the one on
// PATH, else Debian's /usr/bin/python3, since a pyenv shim may shadow it) and runs a script file
// with tests/python on PYTHONPATH.
#include <cstdlib>
#include <string>

#include "test_helpers.h"

namespace fluxion::test {

// "" when no interpreter with numpy exists (interop tests then skip with a WARN).
inline const std::string& numpy_python() {
  static const std::string interpreter = [] {
    for (const char* candidate : {"python3", "/usr/bin/python3"}) {
      const std::string probe = std::string(candidate) + " -c 'import numpy' >/dev/null 2>&1";
      if (std::system(probe.c_str()) == 0) return std::string(candidate);
    }
    return std::string();
  }();
  return interpreter;
}

// Writes `script` to dir/name and runs it; returns the exit status (0 = every assert held).
inline int run_python(const std::string& dir, const std::string& name, const std::string& script) {
  const std::string path = dir + "/" + name;
  write_bytes(path, "import numpy as np\n" + script);
  const std::string command = "PYTHONPATH='" + std::string(FLUXION_SOURCE_DIR) +
                              "/tests/python' " + numpy_python() + " '" + path + "'";
  return std::system(command.c_str());
}

}  // namespace fluxion::test
