#include <catch2/catch.hpp>

#include "core/device.h"
#include "core/error.h"
#include "test_helpers.h"

using namespace fluxion;

TEST_CASE("device names resolve, unknown ones fail", "[unit][device]") {
  CHECK(core::resolve_device("cpu") == torch::Device(torch::kCPU));
  const bool cuda = torch::cuda::is_available();
  CHECK(core::resolve_device("auto").is_cuda() == cuda);
  if (!cuda) {
    CHECK_THROWS_WITH(core::resolve_device("cuda"), Catch::Contains("CUDA is not available"));
    CHECK_THROWS_AS(core::resolve_device("cuda:1"), Error);
  }
  CHECK_THROWS_WITH(core::resolve_device("gpu"), Catch::Contains("unknown device 'gpu'"));
  CHECK(core::device_summary(torch::kCPU).rfind("cpu (", 0) == 0);
}

TEST_CASE("precision policy: bf16 on CUDA, fp32 on CPU by default", "[unit][device]") {
  CHECK(core::resolve_precision("auto", torch::kCPU) == torch::kFloat);
  CHECK(core::resolve_precision("auto", torch::Device(torch::kCUDA, 0)) == torch::kBFloat16);
  CHECK(core::resolve_precision("fp32", torch::Device(torch::kCUDA, 0)) == torch::kFloat);
  CHECK(core::resolve_precision("bf16", torch::kCPU) == torch::kBFloat16);
  CHECK_THROWS_WITH(core::resolve_precision("fp8", torch::kCPU), Catch::Contains("'fp8'"));
}

TEST_CASE("CUDA devices resolve and are described by name", "[cuda][device]") {
  if (!torch::cuda::is_available()) {
    test::skip_test("CUDA not available");
  }
  CHECK(core::resolve_device("cuda") == torch::Device(torch::kCUDA, 0));
  CHECK(core::resolve_device("cuda:0") == torch::Device(torch::kCUDA, 0));
  CHECK_THROWS_AS(core::resolve_device("cuda:99"), Error);
  const auto summary = core::device_summary(torch::Device(torch::kCUDA, 0));
  INFO(summary);
  CHECK(summary.rfind("cuda:0 (", 0) == 0);
  CHECK(summary.find("CUDA device") == std::string::npos);  // the driver gave a real name
}
