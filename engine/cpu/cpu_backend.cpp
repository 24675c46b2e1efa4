#include "engine/cpu/cpu_backend.h"

#include <omp.h>

#include <cstring>

#if defined(__SSE2__)
#include <pmmintrin.h>
#include <xmmintrin.h>
#endif

namespace unravel {

namespace {

void set_this_thread() {
#if defined(__SSE2__)
  _MM_SET_FLUSH_ZERO_MODE(_MM_FLUSH_ZERO_ON);
  _MM_SET_DENORMALS_ZERO_MODE(_MM_DENORMALS_ZERO_ON);
#endif
}

}  // namespace

void cpu_flush_denormals() {
  thread_local bool done = false;
  if (done) return;
  set_this_thread();
  if (!omp_in_parallel()) {
#pragma omp parallel
    set_this_thread();
  }
  done = true;
}

DenormalsFlushedScope::DenormalsFlushedScope() {
#if defined(__SSE2__)
  saved_ = _mm_getcsr();
#endif
  set_this_thread();
  cpu_flush_denormals();  // the OpenMP team, once per thread
}

DenormalsFlushedScope::~DenormalsFlushedScope() {
#if defined(__SSE2__)
  _mm_setcsr(saved_);
#endif
}

int CpuBackend::device_count(std::string*) const { return 1; }
Allocator& CpuBackend::allocator() { return host_allocator(); }
void CpuBackend::copy_to_host(const void* src, void* host_dst, size_t nbytes) {
  std::memcpy(host_dst, src, nbytes);
}
void CpuBackend::copy_from_host(const void* host_src, void* dst, size_t nbytes) {
  std::memcpy(dst, host_src, nbytes);
}

}  // namespace unravel
