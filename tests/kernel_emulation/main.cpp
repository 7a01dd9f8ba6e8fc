// Catch2's main for the kernel emulation tests (fluxion_kernel_tests).
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
