// The one place that knows which backends this build contains (the only #if on CUDA). The CUDA
// backend is a plugin: libunravel_cuda.so is dlopened the first time a CUDA device is asked for,
// so binaries start on machines without any CUDA library.
#include <dlfcn.h>

#include <filesystem>
#include <mutex>

#include "engine/backend.h"
#include "engine/check.h"
#include "engine/config.h"
#include "engine/cpu/cpu_backend.h"
#include "engine/sim/sim_backend.h"

namespace unravel {

namespace {

#if UNRAVEL_HAVE_CUDA
/// Where to look for the plugin: $UNRAVEL_CUDA_PLUGIN, then beside libunravel.so (installed, or
/// the build tree's root with the plugin in ops/cuda/), then the loader's search path.
std::vector<std::string> plugin_candidates() {
  std::vector<std::string> c;
  if (const char* e = std::getenv("UNRAVEL_CUDA_PLUGIN"); e && *e) c.push_back(e);
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&backend_compiled), &info) && info.dli_fname) {
    const auto dir = std::filesystem::path(info.dli_fname).parent_path();
    c.push_back((dir / "libunravel_cuda.so").string());
    c.push_back((dir / "ops" / "cuda" / "libunravel_cuda.so").string());
  }
  c.push_back("libunravel_cuda.so");
  return c;
}

/// Loads the plugin once; throws with every reason when it cannot.
Backend& cuda_plugin() {
  static Backend* be = nullptr;
  static std::string error;
  static std::once_flag once;
  std::call_once(once, [] {
    std::string tried;
    for (const std::string& path : plugin_candidates()) {
      if (path.find('/') != std::string::npos && !std::filesystem::exists(path)) continue;
      void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (!h) {
        tried += fmt::format("\n  {}: {}", path, dlerror());
        continue;
      }
      using Factory = Backend* (*)(const char*);
      auto f = reinterpret_cast<Factory>(dlsym(h, "unravel_cuda_backend"));
      if (!f) {
        tried += fmt::format("\n  {}: no unravel_cuda_backend entry point", path);
        continue;
      }
      be = f(UNRAVEL_VERSION);
      if (be) return;
      tried += fmt::format("\n  {}: built for another version of unravel (want {})", path,
                           UNRAVEL_VERSION);
    }
    error = fmt::format("the CUDA plugin libunravel_cuda.so could not be loaded (set "
                        "UNRAVEL_CUDA_PLUGIN to its path):{}", tried);
  });
  UNRAVEL_CHECK(be != nullptr, "{}", error);
  return *be;
}
#endif

}  // namespace

bool backend_compiled(DeviceKind kind) {
  if (kind == DeviceKind::cpu || kind == DeviceKind::sim) return true;
  return UNRAVEL_HAVE_CUDA != 0;
}

std::string backend_load_error(DeviceKind kind) {
  if (kind != DeviceKind::cuda) return "";
#if UNRAVEL_HAVE_CUDA
  try {
    cuda_plugin();
    return "";
  } catch (const Error& e) {
    return e.what();
  }
#else
  return "this build of unravel has no CUDA backend";
#endif
}

Backend& backend(Device device) {
  if (device.kind == DeviceKind::cpu) {
    static CpuBackend cpu;
    cpu_flush_denormals();
    return cpu;
  }
  if (device.kind == DeviceKind::sim) {
    cpu_flush_denormals();  // its kernels are the CPU's
    Backend& sim = sim_backend();
    UNRAVEL_CHECK(device.index >= 0 && device.index < sim.device_count(),
                  "device {}: the stand-in device has indices 0..{}", device.str(),
                  sim.device_count() - 1);
    return sim;
  }
#if UNRAVEL_HAVE_CUDA
  Backend& cuda = cuda_plugin();
  std::string why;
  int n = cuda.device_count(&why);
  UNRAVEL_CHECK(device.index >= 0 && device.index < n, "device {}: not available ({})", device.str(),
                n == 0 ? why : fmt::format("{} CUDA device(s) present", n));
  return cuda;
#else
  UNRAVEL_CHECK(false, "device {}: this build of unravel has no CUDA backend (it was configured "
                       "without nvcc, cuBLAS or cuDNN; use --device cpu, or sim to test device rules)", device.str());
  return backend(kCPU);
#endif
}

}  // namespace unravel
