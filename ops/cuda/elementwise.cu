// CUDA elementwise kernels: copy with cast, fill, arange, unary, binary, where. The math is the
// functors of ops/functors.h, the very code the CPU loops run. Each kernel has a dense path
// (every operand contiguous: plain indexing) and a strided one (offsets from Strided, which
// covers broadcasting by 0 strides and transposed or sliced views). Grid-stride loops, 64-bit
// indices, one launch on the output's device stream.
#include <type_traits>

#include "engine/bf16.h"
#include "engine/cuda/cuda_backend.h"
#include "ops/cuda/cuda_common.cuh"
#include "ops/cuda/elementwise_body.h"
#include "ops/functors.h"

namespace unravel {

using cuda::DeviceCtx;
using cuda::dispatch_all;
using cuda::elementwise_dims;
using cuda::Strided;

namespace {

// Thin wrappers: the bodies are in ops/cuda/elementwise_body.h.
template <class To, class From>
__global__ void cast_kernel(To* y, Strided ys, const From* x, Strided xs, int64_t n, bool dense) {
  DeviceCtx c;
  cuda::cast_body<To, From>(c, y, ys, x, xs, n, dense);
}

template <class T> __global__ void fill_kernel(T* y, Strided ys, int64_t n, bool dense, T v) {
  DeviceCtx c;
  cuda::fill_body<T>(c, y, ys, n, dense, v);
}

template <class T> __global__ void arange_kernel(T* y, int64_t n, double start, double step) {
  DeviceCtx c;
  cuda::arange_body<T>(c, y, n, start, step);
}

template <class T, class F>
__global__ void unary_kernel(T* y, Strided ys, const T* x, Strided xs, int64_t n, bool dense,
                             double alpha) {
  DeviceCtx c;
  cuda::unary_body<T, F>(c, y, ys, x, xs, n, dense, alpha);
}

template <class T, class R, class F>
__global__ void binary_kernel(R* y, Strided ys, const T* a, Strided as, const T* b, Strided bs,
                              int64_t n, bool dense, double alpha) {
  DeviceCtx c;
  cuda::binary_body<T, R, F>(c, y, ys, a, as, b, bs, n, dense, alpha);
}

template <class T>
__global__ void where_kernel(T* y, Strided ys, const uint8_t* c, Strided cs, const T* a, Strided as,
                             const T* b, Strided bs, int64_t n) {
  DeviceCtx ctx;
  cuda::where_body<T>(ctx, y, ys, c, cs, a, as, b, bs, n);
}

/// A copy between two GPUs, ordered on both devices' streams: it starts after the work queued
/// on the source's stream (which may still be writing `src`) and, before the source's stream
/// goes on, it has finished (so a block of `src` freed and reused there cannot be overwritten
/// while the copy still reads it). Queued on the destination's stream `s`.
void peer_copy(const TensorView& dst, const TensorView& src, size_t bytes, cudaStream_t s) {
  cudaStream_t src_stream = cuda::stream_for(src.device.index);
  cudaEvent_t written = nullptr, copied = nullptr;
  UNRAVEL_CUDA(cudaEventCreateWithFlags(&written, cudaEventDisableTiming));
  UNRAVEL_CUDA(cudaEventRecord(written, src_stream));
  cuda::stream_for(dst.device.index);
  UNRAVEL_CUDA(cudaStreamWaitEvent(s, written, 0));
  UNRAVEL_CUDA(
      cudaMemcpyPeerAsync(dst.data, dst.device.index, src.data, src.device.index, bytes, s));
  UNRAVEL_CUDA(cudaEventCreateWithFlags(&copied, cudaEventDisableTiming));
  UNRAVEL_CUDA(cudaEventRecord(copied, s));
  UNRAVEL_CUDA(cudaStreamWaitEvent(src_stream, copied, 0));
  // Destroying an event whose recorded work is still pending is legal: its resources are
  // released once that work completes.
  cudaEventDestroy(written);
  cudaEventDestroy(copied);
}

}  // namespace

void CudaBackend::copy(const TensorView& src, const TensorView& dst) {
  UNRAVEL_CUDA_TIMED("copy", dst.device.index);
  UNRAVEL_CHECK(src.shape == dst.shape, "copy: source {} and destination {} differ in shape",
                src.shape.str(), dst.shape.str());
  const int64_t n = dst.numel();
  if (n == 0) return;
  cudaStream_t s = cuda::stream_of(dst);
  if (src.dtype == dst.dtype && src.contiguous() && dst.contiguous()) {
    const size_t bytes = static_cast<size_t>(n) * size_of(dst.dtype);
    if (src.device == dst.device)
      UNRAVEL_CUDA(cudaMemcpyAsync(dst.data, src.data, bytes, cudaMemcpyDeviceToDevice, s));
    else
      peer_copy(dst, src, bytes, s);
    return;
  }
  UNRAVEL_CHECK(src.device == dst.device,
                "copy: a strided or converting copy between {} and {} (copy contiguously first)",
                src.device.str(), dst.device.str());
  const cuda::CastArgs g = cuda::cast_args(src, dst);
  dispatch_all(dst.dtype, [&](auto to) {
    using To = decltype(to);
    dispatch_all(src.dtype, [&](auto from) {
      using From = decltype(from);
      cast_kernel<To, From><<<UNRAVEL_LAUNCH_DIMS(elementwise_dims(n), s)>>>(
          static_cast<To*>(dst.data), g.ys, static_cast<const From*>(src.data), g.xs, n, g.dense);
      UNRAVEL_CUDA_LAUNCH();
    });
  });
}

void CudaBackend::fill(const TensorView& y, double value) {
  UNRAVEL_CUDA_TIMED("fill", y.device.index);
  const int64_t n = y.numel();
  if (n == 0) return;
  cudaStream_t s = cuda::stream_of(y);
  const Strided ys = cuda::strided_of(y, "fill");
  dispatch_all(y.dtype, [&](auto tag) {
    using T = decltype(tag);
    fill_kernel<T><<<UNRAVEL_LAUNCH_DIMS(elementwise_dims(n), s)>>>(
        static_cast<T*>(y.data), ys, n, y.contiguous(), cuda::fill_value<T>(value));
    UNRAVEL_CUDA_LAUNCH();
  });
}

void CudaBackend::arange(const TensorView& y, double start, double step) {
  UNRAVEL_CUDA_TIMED("arange", y.device.index);
  UNRAVEL_CHECK(y.rank() == 1 && y.contiguous(), "arange: want a contiguous 1-D output, got {}",
                y.shape.str());
  const int64_t n = y.numel();
  if (n == 0) return;
  cudaStream_t s = cuda::stream_of(y);
  dispatch_dtype(y.dtype, [&](auto tag) {
    using T = decltype(tag);
    arange_kernel<T><<<UNRAVEL_LAUNCH_DIMS(elementwise_dims(n), s)>>>(y.ptr<T>(), n, start, step);
    UNRAVEL_CUDA_LAUNCH();
  });
}

void CudaBackend::unary(UnaryOp op, const TensorView& x, const TensorView& y, double alpha) {
  UNRAVEL_CUDA_TIMED("unary", y.device.index);
  UNRAVEL_CHECK(x.dtype == y.dtype, "{}: input {} and output {} dtypes differ", fn::unary_name(op),
                dtype_name(x.dtype), dtype_name(y.dtype));
  const int64_t n = y.numel();
  if (n == 0) return;
  cudaStream_t s = cuda::stream_of(y);
  const cuda::UnaryArgs g = cuda::unary_args(x, y, fn::unary_name(op));
  fn::visit_unary(op, [&](auto f) {
    using F = decltype(f);
    dispatch_dtype(x.dtype, [&](auto tag) {
      using T = decltype(tag);
      if constexpr (std::is_floating_point_v<T> || F::kInt) {
        unary_kernel<T, F><<<UNRAVEL_LAUNCH_DIMS(elementwise_dims(n), s)>>>(
            y.ptr<T>(), g.ys, x.ptr<T>(), g.xs, n, g.dense, alpha);
        UNRAVEL_CUDA_LAUNCH();
      } else {
        UNRAVEL_CHECK(false, "{}: not defined for {} tensors", fn::unary_name(op),
                      dtype_name(x.dtype));
      }
    });
  });
}

void CudaBackend::binary(BinaryOp op, const TensorView& a, const TensorView& b, const TensorView& y,
                         double alpha) {
  UNRAVEL_CUDA_TIMED("binary", y.device.index);
  UNRAVEL_CHECK(a.dtype == b.dtype, "{}: operand dtypes differ ({} vs {})", fn::binary_name(op),
                dtype_name(a.dtype), dtype_name(b.dtype));
  const int64_t n = y.numel();
  if (n == 0) return;
  cudaStream_t s = cuda::stream_of(y);
  const char* name = fn::binary_name(op);
  const cuda::BinaryArgs g = cuda::binary_args(a, b, y, name);
  fn::visit_binary(op, [&](auto f) {
    using F = decltype(f);
    dispatch_dtype(a.dtype, [&](auto tag) {
      using T = decltype(tag);
      if constexpr (std::is_floating_point_v<T> || F::kInt) {
        if constexpr (F::kCompare) {
          UNRAVEL_CHECK(y.dtype == DType::u8, "{}: output must be u8", name);
          binary_kernel<T, uint8_t, F><<<UNRAVEL_LAUNCH_DIMS(elementwise_dims(n), s)>>>(
              y.ptr<uint8_t>(), g.ys, a.ptr<T>(), g.as, b.ptr<T>(), g.bs, n, g.dense, alpha);
        } else {
          UNRAVEL_CHECK(y.dtype == a.dtype, "{}: output dtype {} differs from inputs' {}", name,
                        dtype_name(y.dtype), dtype_name(a.dtype));
          binary_kernel<T, T, F><<<UNRAVEL_LAUNCH_DIMS(elementwise_dims(n), s)>>>(
              y.ptr<T>(), g.ys, a.ptr<T>(), g.as, b.ptr<T>(), g.bs, n, g.dense, alpha);
        }
        UNRAVEL_CUDA_LAUNCH();
      } else {
        UNRAVEL_CHECK(false, "{}: not defined for {} tensors", name, dtype_name(a.dtype));
      }
    });
  });
}

void CudaBackend::where(const TensorView& cond, const TensorView& a, const TensorView& b,
                        const TensorView& y) {
  UNRAVEL_CUDA_TIMED("where", y.device.index);
  UNRAVEL_CHECK(cond.dtype == DType::u8, "where: condition must be u8 (bool), got {}",
                dtype_name(cond.dtype));
  UNRAVEL_CHECK(a.dtype == b.dtype && a.dtype == y.dtype, "where: branch dtypes differ");
  const int64_t n = y.numel();
  if (n == 0) return;
  cudaStream_t s = cuda::stream_of(y);
  const cuda::WhereArgs g = cuda::where_args(cond, a, b, y);
  dispatch_dtype(y.dtype, [&](auto tag) {
    using T = decltype(tag);
    where_kernel<T><<<UNRAVEL_LAUNCH_DIMS(elementwise_dims(n), s)>>>(
        y.ptr<T>(), g.ys, cond.ptr<uint8_t>(), g.cs, a.ptr<T>(), g.as, b.ptr<T>(), g.bs, n);
    UNRAVEL_CUDA_LAUNCH();
  });
}

}  // namespace unravel
