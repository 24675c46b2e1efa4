// `unravel devices`: what this build can run on, here and now.
#include <cstdio>
#include <string>

#include "apps/commands.h"
#include "engine/allocator.h"
#include "engine/backend.h"
#include "engine/check.h"
#include "engine/config.h"
#include "engine/cpu/cpu_backend.h"

namespace unravel::apps {

int list_devices(const std::string& require) {
  std::printf("unravel %s\n", UNRAVEL_VERSION);
  const Backend& cpu = backend(kCPU);
  std::printf("  cpu     available (bf16 kernels: %s; CPU loops: %s of %s)\n",
              cpu.supports(Kernel::gemm_bf16) ? "yes" : "no: no AVX512-BF16/AMX",
              cpu_isa().c_str(), fmt::format("{}", fmt::join(cpu_isas(), ", ")).c_str());
  std::printf("  sim:0   available (the stand-in device that checks device rules)\n");
  std::string cuda_state;
  bool cuda_ok = false;
  if (!backend_compiled(DeviceKind::cuda)) {
    cuda_state = "not built (configured without nvcc, cuBLAS or cuDNN)";
  } else {
    try {
      Backend& be = backend(cuda_device(0));
      const int n = be.device_count();
      cuda_state = fmt::format("{} device(s)", n);
      // A round trip through device memory proves the plugin, driver and runtime work.
      const float v = 3.5f;
      float back = 0;
      Allocator& alloc = be.allocator_on(cuda_device(0));
      void* p = alloc.allocate(sizeof v);
      be.copy_from_host(&v, p, sizeof v);
      be.copy_to_host(p, &back, sizeof v);
      alloc.deallocate(p, sizeof v);
      UNRAVEL_CHECK(back == v, "cuda: a value written to the device read back as {}", back);
      cuda_ok = true;
    } catch (const Error& e) {
      cuda_state = std::string("unavailable: ") + e.what();
    }
  }
  std::printf("  cuda    %s\n", cuda_state.c_str());
  if (require.empty()) return 0;
  const Device d = Device::parse(require);
  if (d.is_cuda() && !cuda_ok) {
    std::fprintf(stderr, "unravel devices: %s is required but %s\n", require.c_str(),
                 cuda_state.c_str());
    return 1;
  }
  return 0;
}

}  // namespace unravel::apps
