// The one place that knows which backends this build contains (the only #if on CUDA).
#include "engine/backend.h"
#include "engine/check.h"
#include "engine/config.h"
#include "engine/cpu/cpu_backend.h"
#include "engine/sim/sim_backend.h"
#if UNRAVEL_HAVE_CUDA
#include "engine/cuda/cuda_backend.h"
#endif

namespace unravel {

bool backend_compiled(DeviceKind kind) {
  if (kind == DeviceKind::cpu || kind == DeviceKind::sim) return true;
  return UNRAVEL_HAVE_CUDA != 0;
}

Backend& backend(Device device) {
  if (device.kind == DeviceKind::cpu) {
    static CpuBackend cpu;
    return cpu;
  }
  if (device.kind == DeviceKind::sim) {
    Backend& sim = sim_backend();
    UNRAVEL_CHECK(device.index >= 0 && device.index < sim.device_count(),
                  "device {}: the stand-in device has indices 0..{}", device.str(),
                  sim.device_count() - 1);
    return sim;
  }
#if UNRAVEL_HAVE_CUDA
  Backend& cuda = cuda_backend();
  std::string why;
  int n = cuda.device_count(&why);
  UNRAVEL_CHECK(device.index >= 0 && device.index < n, "device {}: not available ({})", device.str(),
                n == 0 ? why : fmt::format("{} CUDA device(s) present", n));
  return cuda;
#else
  UNRAVEL_CHECK(false, "device {}: this build of unravel has no CUDA backend (this version "
                       "implements the CPU backend only; use --device cpu, or sim to test device rules)", device.str());
  return backend(kCPU);
#endif
}

}  // namespace unravel
