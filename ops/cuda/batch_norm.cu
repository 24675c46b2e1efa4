// CUDA batch normalisation in our own kernels: the bodies and their launch plan are in
// ops/cuda/batch_norm_body.h (emulated on the host in CI); the kernels here are thin wrappers
// and the host code checks the tensors.
#include "engine/cuda/cuda_backend.h"
#include "ops/cuda/batch_norm_body.h"
#include "ops/cuda/cuda_common.cuh"

namespace unravel {

namespace {

using cuda::ChannelMap;
using cuda::ChannelVec;
using cuda::DeviceCtx;

template <class T>
__global__ void __launch_bounds__(cuda::kBnThreads)
bn_forward_kernel(
    const T* x, ChannelMap xm, T* y, ChannelMap ym, int64_t channels, int64_t M,
    ChannelVec<const T> gamma, ChannelVec<const T> beta, ChannelVec<const T> mean,
    ChannelVec<const T> var, bool training, double eps, ChannelVec<T> save_mean,
    ChannelVec<T> save_invstd) {
  DeviceCtx c;
  cuda::bn_forward_body<T>(c, x, xm, y, ym, channels, M, gamma, beta, mean, var, training, eps,
                           save_mean, save_invstd);
}

template <class T>
__global__ void __launch_bounds__(cuda::kBnThreads)
bn_backward_kernel(
    const T* dy, ChannelMap gm, const T* x, ChannelMap xm, int64_t channels, int64_t M,
    ChannelVec<const T> gamma, ChannelVec<const T> save_mean, ChannelVec<const T> save_invstd,
    T* dx, ChannelMap dm, ChannelVec<T> dgamma, ChannelVec<T> dbeta) {
  DeviceCtx c;
  cuda::bn_backward_body<T>(c, dy, gm, x, xm, channels, M, gamma, save_mean, save_invstd, dx, dm,
                            dgamma, dbeta);
}

void check_bn_view(const TensorView& v, const TensorView& x, const char* fn, const char* what) {
  UNRAVEL_CHECK(v.shape == x.shape && v.dtype == x.dtype, "{}: {} {} {} must match the input {} {}",
                fn, what, dtype_name(v.dtype), v.shape.str(), dtype_name(x.dtype), x.shape.str());
  UNRAVEL_CHECK(v.strided() && v.device == x.device,
                "{}: {} must be a strided tensor on the input's device {}", fn, what,
                x.device.str());
}
void check_channel_view(const TensorView& v, const TensorView& x, int64_t C, const char* fn,
                        const char* what) {
  if (v.data == nullptr) return;
  UNRAVEL_CHECK(v.rank() == 1 && v.shape[0] == C && v.dtype == x.dtype,
                "{}: {} must be {} [{}], got {} {}", fn, what, dtype_name(x.dtype), C,
                dtype_name(v.dtype), v.shape.str());
  UNRAVEL_CHECK(v.strided() && v.device == x.device,
                "{}: {} must be a strided tensor on the input's device {}", fn, what,
                x.device.str());
}

/// An optional per-channel view as the kernels take it.
template <class T> ChannelVec<T> vec(const TensorView& v) {
  return ChannelVec<T>{static_cast<T*>(v.data), v.data != nullptr ? v.strides[0] : 0};
}

}  // namespace

// --- batch norm ---------------------------------------------------------------------------------

void CudaBackend::batch_norm_forward(const TensorView& x, const TensorView& gamma,
                                     const TensorView& beta, const TensorView& mean,
                                     const TensorView& var, bool training, double eps,
                                     const TensorView& y, const TensorView& save_mean,
                                     const TensorView& save_invstd) {
  const char* fn = "batch_norm_forward";
  UNRAVEL_CUDA_TIMED(fn, x.device.index);
  UNRAVEL_CHECK(x.rank() == 2 || x.rank() == 4, "{}: input must be (N, C) or (N, C, H, W), got {}",
                fn, x.shape.str());
  UNRAVEL_CHECK(x.strided(), "{}: the CUDA backend takes strided tensors only (no layouts)", fn);
  check_bn_view(y, x, fn, "output");
  const int64_t C = x.shape[1];
  check_channel_view(gamma, x, C, fn, "weight (gamma)");
  check_channel_view(beta, x, C, fn, "bias (beta)");
  check_channel_view(save_mean, x, C, fn, "save_mean");
  check_channel_view(save_invstd, x, C, fn, "save_invstd");
  if (!training) {
    UNRAVEL_CHECK(mean.data && var.data, "{}: eval mode needs running mean and var", fn);
    check_channel_view(mean, x, C, fn, "running mean");
    check_channel_view(var, x, C, fn, "running var");
  }
  UNRAVEL_CHECK(x.dtype == DType::f32 || x.dtype == DType::f64,
                "{}: dtype {} is not supported (f32, f64)", fn, dtype_name(x.dtype));
  if (C == 0) return;
  const int64_t M = x.numel() / C;
  cudaStream_t s = cuda::stream_of(x);
  const ChannelMap xm = cuda::channel_map(x), ym = cuda::channel_map(y);
  // Eval reads only the given statistics; training ignores them (the op updates running stats).
  const TensorView no;
  const TensorView& mu = training ? no : mean;
  const TensorView& va = training ? no : var;
  cuda::dispatch_float(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    bn_forward_kernel<T><<<UNRAVEL_LAUNCH_DIMS(cuda::bn_dims(C), s)>>>(
        static_cast<const T*>(x.data), xm, static_cast<T*>(y.data), ym, C, M,
        vec<const T>(gamma), vec<const T>(beta), vec<const T>(mu), vec<const T>(va), training,
        eps, vec<T>(save_mean), vec<T>(save_invstd));
    UNRAVEL_CUDA_LAUNCH();
  });
}

void CudaBackend::batch_norm_backward(const TensorView& dy, const TensorView& x,
                                      const TensorView& gamma, const TensorView& save_mean,
                                      const TensorView& save_invstd, const TensorView& dx,
                                      const TensorView& dgamma, const TensorView& dbeta) {
  const char* fn = "batch_norm_backward";
  UNRAVEL_CUDA_TIMED(fn, x.device.index);
  UNRAVEL_CHECK(x.rank() == 2 || x.rank() == 4, "{}: input must be (N, C) or (N, C, H, W), got {}",
                fn, x.shape.str());
  UNRAVEL_CHECK(x.strided(), "{}: the CUDA backend takes strided tensors only (no layouts)", fn);
  check_bn_view(dy, x, fn, "output gradient");
  if (dx.data != nullptr) check_bn_view(dx, x, fn, "input gradient");
  const int64_t C = x.shape[1];
  UNRAVEL_CHECK(save_mean.data && save_invstd.data, "{}: needs the saved mean and invstd", fn);
  for (const TensorView* v : {&gamma, &save_mean, &save_invstd, &dgamma, &dbeta})
    check_channel_view(*v, x, C, fn, "per-channel tensor");
  UNRAVEL_CHECK(x.dtype == DType::f32 || x.dtype == DType::f64,
                "{}: dtype {} is not supported (f32, f64)", fn, dtype_name(x.dtype));
  if (C == 0) return;
  const int64_t M = x.numel() / C;
  cudaStream_t s = cuda::stream_of(x);
  const ChannelMap xm = cuda::channel_map(x), gm = cuda::channel_map(dy);
  const ChannelMap dm = dx.data != nullptr ? cuda::channel_map(dx) : xm;
  cuda::dispatch_float(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    bn_backward_kernel<T><<<UNRAVEL_LAUNCH_DIMS(cuda::bn_dims(C), s)>>>(
        static_cast<const T*>(dy.data), gm, static_cast<const T*>(x.data), xm, C, M,
        vec<const T>(gamma), vec<const T>(save_mean), vec<const T>(save_invstd),
        static_cast<T*>(dx.data), dm, vec<T>(dgamma), vec<T>(dbeta));
    UNRAVEL_CUDA_LAUNCH();
  });
}

}  // namespace unravel
