// Shared by the CUDA kernel files: error checks and the current device's stream (the host-only
// engine/cuda/cuda_check.h), library handles, dtype dispatch and scratch memory; the CUDA-free part (strided index arithmetic,
// launch sizes, kernel contexts) is ops/cuda/kernel_common.h. Device code only sees plain
// structs passed by value.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "engine/check.h"
#include "engine/cuda/cuda_check.h"
#include "engine/tensor_view.h"
#include "ops/cuda/kernel_common.h"

namespace unravel::cuda {

// throw_cuda_error, UNRAVEL_CUDA, UNRAVEL_CUDA_LAUNCH and stream_for: engine/cuda/cuda_check.h.

/// The stream of the device a view lives on (and makes that device current).
inline cudaStream_t stream_of(const TensorView& v) { return stream_for(v.device.index); }

/// Calls f(T{}) for f32, f64, i32, i64, u8 (bf16 refused as on the CPU).
template <class F> decltype(auto) dispatch(DType t, F&& f) { return dispatch_dtype(t, f); }

/// UNRAVEL_CUDA_TIMING=1: the GPU time of each Backend call, measured with CUDA events recorded
/// on the device's stream around it (inclusive: a convolution's bias add also counts as a
/// binary call), summed per family and printed to stderr at exit. Off (no cost beyond one
/// branch) otherwise, and never during graph capture.
class FamilyTimer {
 public:
  FamilyTimer(const char* family, int device);
  ~FamilyTimer();
  FamilyTimer(const FamilyTimer&) = delete;
  FamilyTimer& operator=(const FamilyTimer&) = delete;

 private:
  const char* family_ = nullptr;
  int device_ = 0;
  cudaEvent_t start_ = nullptr;
};
#define UNRAVEL_CUDA_TIMED(family, device) ::unravel::cuda::FamilyTimer unravel_timer_(family, device)

/// Device scratch memory on the current device, from that device's caching allocator, freed
/// (stream-ordered) on scope exit.
class Scratch {
 public:
  Scratch(size_t nbytes);
  ~Scratch();
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  void* get() const { return p_; }
  template <class T> T* as() const { return static_cast<T*>(p_); }

 private:
  void* p_ = nullptr;
  size_t n_ = 0;
  int device_ = 0;
};

/// f(float{}) for f32, else f(double{}) (callers have checked the dtype is one of the two).
template <class F> void dispatch_float(DType t, F&& f) {
  if (t == DType::f32)
    f(float{});
  else
    f(double{});
}

}  // namespace unravel::cuda
