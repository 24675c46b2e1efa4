// The plugin's one exported entry point: engine/backend_registry.cpp dlopens libunravel_cuda.so
// and calls this to get the backend. The ABI check guards against a plugin from another build.
#include "engine/config.h"
#include "engine/cuda/cuda_backend.h"

extern "C" __attribute__((visibility("default"))) unravel::Backend* unravel_cuda_backend(
    const char* version) {
  if (version == nullptr || std::string(version) != UNRAVEL_VERSION) return nullptr;
  return &unravel::cuda_backend_instance();
}
