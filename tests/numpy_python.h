#pragma once
// Running small numpy scripts from the I/O tests: a python3 that has numpy (test_helpers.h's
// python_with) runs a script file with tests/python on PYTHONPATH.
#include <cstdlib>
#include <string>

#include "test_helpers.h"

namespace fluxion::test {

// "" when no interpreter with numpy exists (interop tests then skip).
inline const std::string& numpy_python() { return python_with("numpy"); }

// Writes `script` to dir/name and runs it; returns the exit status (0 = every assert held).
inline int run_python(const std::string& dir, const std::string& name, const std::string& script) {
  const std::string path = dir + "/" + name;
  write_bytes(path, "import numpy as np\n" + script);
  const std::string command =
      "PYTHONPATH='" + std::string(FLUXION_SOURCE_DIR) + "/tests/python' " + numpy_python() + " '" + path + "'";
  return std::system(command.c_str());
}

}  // namespace fluxion::test
