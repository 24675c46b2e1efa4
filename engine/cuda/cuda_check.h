// The host-only part of the CUDA backend's helpers, for C++ translation units of the plugin that
// call the runtime but hold no device code (engine/cuda/nccl_collectives.cpp); the kernel files
// get it through ops/cuda/cuda_common.cuh.
#pragma once
#include <cuda_runtime.h>

namespace unravel::cuda {

/// Throws unravel::Error naming the call, file and line and CUDA's message.
[[noreturn]] void throw_cuda_error(cudaError_t e, const char* what, const char* file, int line);

#define UNRAVEL_CUDA(expr)                                                   \
  do {                                                                       \
    cudaError_t unravel_cuda_e_ = (expr);                                    \
    if (unravel_cuda_e_ != cudaSuccess)                                      \
      ::unravel::cuda::throw_cuda_error(unravel_cuda_e_, #expr, __FILE__, __LINE__); \
  } while (0)

/// Checks the last kernel launch.
#define UNRAVEL_CUDA_LAUNCH() UNRAVEL_CUDA(cudaGetLastError())

/// Makes `device` current (cudaSetDevice when it changes) and returns its stream: the one
/// in-order stream every kernel, copy and library call of that device runs on.
cudaStream_t stream_for(int device);

}  // namespace unravel::cuda
