#include "engine/cpu/cpu_backend.h"

#include <cstring>

namespace unravel {

int CpuBackend::device_count(std::string*) const { return 1; }
Allocator& CpuBackend::allocator() { return host_allocator(); }
void CpuBackend::copy_to_host(const void* src, void* host_dst, size_t nbytes) {
  std::memcpy(host_dst, src, nbytes);
}
void CpuBackend::copy_from_host(const void* host_src, void* dst, size_t nbytes) {
  std::memcpy(dst, host_src, nbytes);
}

}  // namespace unravel
