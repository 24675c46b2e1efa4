// CUDA convolutions in our own direct kernels: the fallback of conv.cu when cuDNN refuses every
// candidate, the output extent is not cuDNN's, or a tensor exceeds its 32-bit counts (and all
// of them with UNRAVEL_CUDA_CONV=direct). The bodies and their launch plans are in
// ops/cuda/conv_direct_body.h (emulated on the host in CI); the kernels here are thin wrappers.
#include "ops/cuda/conv_direct_body.h"
#include "ops/cuda/conv_geometry.cuh"

namespace unravel::cuda_conv {

namespace {

using cuda::DeviceCtx;

template <class T> __global__ void direct_forward_kernel(const T* x, S4 xs, const T* w, S4 ws, T* y,
                                                         S4 ys, Geom g, int64_t total) {
  DeviceCtx c;
  direct_forward_body<T>(c, x, xs, w, ws, y, ys, g, total);
}

template <class T> __global__ void direct_backward_data_kernel(const T* dy, S4 ys, const T* w,
                                                               S4 ws, T* dx, S4 xs, Geom g,
                                                               int64_t total) {
  DeviceCtx c;
  direct_backward_data_body<T>(c, dy, ys, w, ws, dx, xs, g, total);
}

template <class T> __global__ void direct_backward_weights_kernel(const T* x, S4 xs, const T* dy,
                                                                  S4 ys, T* dw, S4 ws, Geom g,
                                                                  int64_t total) {
  DeviceCtx c;
  direct_backward_weights_body<T>(c, x, xs, dy, ys, dw, ws, g, total);
}

}  // namespace

void direct_conv(Pass pass, const TensorView& x, const TensorView& w, const TensorView& y,
                 const Geom& g) {
  cudaStream_t s = cuda::stream_of(x);
  cuda::dispatch_float(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    if (pass == Pass::fwd) {
      const int64_t total = y.numel();
      direct_forward_kernel<T><<<UNRAVEL_LAUNCH_DIMS(cuda::elementwise_dims(total), s)>>>(
          x.ptr<T>(), s4(x), w.ptr<T>(), s4(w), y.ptr<T>(), s4(y), g, total);
    } else if (pass == Pass::bwd_data) {
      const int64_t total = x.numel();
      direct_backward_data_kernel<T><<<UNRAVEL_LAUNCH_DIMS(cuda::elementwise_dims(total), s)>>>(
          y.ptr<T>(), s4(y), w.ptr<T>(), s4(w), x.ptr<T>(), s4(x), g, total);
    } else {
      const int64_t total = w.numel();
      direct_backward_weights_kernel<T><<<UNRAVEL_LAUNCH_DIMS(direct_weights_dims(total), s)>>>(
          x.ptr<T>(), s4(x), y.ptr<T>(), s4(y), w.ptr<T>(), s4(w), g, total);
    }
    UNRAVEL_CUDA_LAUNCH();
  });
}

}  // namespace unravel::cuda_conv
