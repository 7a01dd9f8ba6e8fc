#include "core/openmp_wait.h"

#include <unistd.h>

#include <cstdlib>

namespace fluxion::core {

void restart_with_passive_openmp(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr) return;
  if (setenv("OMP_WAIT_POLICY", "PASSIVE", 1) != 0) return;
  execv("/proc/self/exe", argv);
  // exec failed (no /proc): carry on with the policy libgomp already read
}

}  // namespace fluxion::core
