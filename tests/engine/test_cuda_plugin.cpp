// The CUDA plugin in CI (no GPU): it loads with every symbol resolved, and asking for a CUDA
// device without one fails with the reason. With a GPU: values survive a round trip.
#include <dlfcn.h>
#include <doctest/doctest.h>

#include "engine/backend.h"
#include "engine/check.h"
#include "ops/ops.h"
#include "tests/gradcheck.h"

using namespace unravel;

TEST_CASE("cuda plugin: loads where built; without a GPU the device is refused with the reason") {
  if (!backend_compiled(DeviceKind::cuda)) {
    MESSAGE("skipped: this build has no CUDA backend (configured without nvcc/cuBLAS/cuDNN)");
    CHECK_THROWS_WITH_AS(backend(cuda_device(0)), doctest::Contains("no CUDA backend"), Error);
    return;
  }
  // dlopen with RTLD_NOW: a kernel family declared but not defined fails here, in CI.
  const std::string load = backend_load_error(DeviceKind::cuda);
  CHECK_MESSAGE(load.empty(), load);
  if (!load.empty()) return;
  std::string why;
  Backend* be = nullptr;
  try {
    be = &backend(cuda_device(0));
  } catch (const Error& e) {
    why = e.what();
  }
  if (!be) {
    MESSAGE("no usable GPU here (expected in CI): " << why);
    CHECK(why.find("cuda:0: not available") != std::string::npos);
    CHECK(why.size() > std::string("device cuda:0: not available ()").size());
    // The usual cause named, not the runtime's "driver version is insufficient".
    if (void* drv = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL); drv == nullptr)
      CHECK(why.find("no NVIDIA driver is installed") != std::string::npos);
    else
      dlclose(drv);
    return;
  }
  CHECK(be->name() == "cuda");
  Tensor x = arange(10, DType::f32);
  Tensor y = square(to(x, cuda_device(0)));
  CHECK(y.device() == cuda_device(0));
  CHECK(testing::max_abs_diff(to(y, kCPU), square(x)) == 0.0);
  CHECK_THROWS_WITH_AS(backend(cuda_device(be->device_count())), doctest::Contains("not available"),
                       Error);
}
