// CUDA elementwise kernels: copy with cast, fill, arange, unary, binary, where. The math is the
// functors of ops/functors.h, the very code the CPU loops run. Each kernel has a dense path
// (every operand contiguous: plain indexing) and a strided one (offsets from Strided, which
// covers broadcasting by 0 strides and transposed or sliced views). Grid-stride loops, 64-bit
// indices, one launch on the output's device stream.
#include <type_traits>

#include "engine/bf16.h"
#include "engine/cuda/cuda_backend.h"
#include "ops/cuda/cuda_common.cuh"
#include "ops/functors.h"

namespace unravel {

using cuda::blocks_for;
using cuda::kThreads;
using cuda::Strided;

namespace {

/// bf16 storage as a distinct type for the cast kernel.
struct Bf16 {
  uint16_t bits;
};

template <class To, class From> __device__ __forceinline__ To convert(From v) {
  if constexpr (std::is_same_v<From, Bf16>) {
    const float f = bf16_to_float(v.bits);
    if constexpr (std::is_same_v<To, Bf16>) return Bf16{v.bits};
    else return static_cast<To>(f);
  } else if constexpr (std::is_same_v<To, Bf16>) {
    return Bf16{float_to_bf16(static_cast<float>(v))};
  } else {
    return static_cast<To>(v);
  }
}

/// f(T{}) over every dtype, bf16 included (as Bf16).
template <class F> void dispatch_all(DType t, F&& f) {
  if (t == DType::bf16) return f(Bf16{});
  dispatch_dtype(t, f);
}

template <class To, class From>
__global__ void cast_kernel(To* y, Strided ys, const From* x, Strided xs, int64_t n, bool dense) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    if (dense) y[i] = convert<To>(x[i]);
    else y[ys.offset(i)] = convert<To>(x[xs.offset(i)]);
  }
}

template <class T> __global__ void fill_kernel(T* y, Strided ys, int64_t n, bool dense, T v) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    y[dense ? i : ys.offset(i)] = v;
}

template <class T> __global__ void arange_kernel(T* y, int64_t n, double start, double step) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    y[i] = static_cast<T>(start + static_cast<double>(i) * step);
}

template <class T, class F>
__global__ void unary_kernel(T* y, Strided ys, const T* x, Strided xs, int64_t n, bool dense,
                             double alpha) {
  F f;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    if (dense) y[i] = f(x[i], alpha);
    else y[ys.offset(i)] = f(x[xs.offset(i)], alpha);
  }
}

template <class T, class R, class F>
__global__ void binary_kernel(R* y, Strided ys, const T* a, Strided as, const T* b, Strided bs,
                              int64_t n, bool dense, double alpha) {
  F f;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    if (dense) y[i] = static_cast<R>(f(a[i], b[i], alpha));
    else y[ys.offset(i)] = static_cast<R>(f(a[as.offset(i)], b[bs.offset(i)], alpha));
  }
}

template <class T>
__global__ void where_kernel(T* y, Strided ys, const uint8_t* c, Strided cs, const T* a, Strided as,
                             const T* b, Strided bs, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    y[ys.offset(i)] = c[cs.offset(i)] ? a[as.offset(i)] : b[bs.offset(i)];
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
      UNRAVEL_CUDA(cudaMemcpyPeerAsync(dst.data, dst.device.index, src.data, src.device.index,
                                       bytes, s));
    return;
  }
  UNRAVEL_CHECK(src.device == dst.device,
                "copy: a strided or converting copy between {} and {} (copy contiguously first)",
                src.device.str(), dst.device.str());
  const Strided ys = cuda::strided_of(dst, "copy"), xs = cuda::strided_of(src, "copy");
  const bool dense = src.contiguous() && dst.contiguous();
  dispatch_all(dst.dtype, [&](auto to) {
    using To = decltype(to);
    dispatch_all(src.dtype, [&](auto from) {
      using From = decltype(from);
      cast_kernel<To, From><<<blocks_for(n), kThreads, 0, s>>>(
          static_cast<To*>(dst.data), ys, static_cast<const From*>(src.data), xs, n, dense);
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
    T v;
    if constexpr (std::is_same_v<T, Bf16>) v = Bf16{float_to_bf16(static_cast<float>(value))};
    else v = static_cast<T>(value);
    fill_kernel<T><<<blocks_for(n), kThreads, 0, s>>>(static_cast<T*>(y.data), ys, n,
                                                       y.contiguous(), v);
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
    arange_kernel<T><<<blocks_for(n), kThreads, 0, s>>>(y.ptr<T>(), n, start, step);
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
  const Strided ys = cuda::strided_of(y, fn::unary_name(op));
  const Strided xs = cuda::strided_as(x, y.shape, fn::unary_name(op));
  const bool dense = x.contiguous() && y.contiguous() && x.shape == y.shape;
  fn::visit_unary(op, [&](auto f) {
    using F = decltype(f);
    dispatch_dtype(x.dtype, [&](auto tag) {
      using T = decltype(tag);
      if constexpr (std::is_floating_point_v<T> || F::kInt) {
        unary_kernel<T, F><<<blocks_for(n), kThreads, 0, s>>>(y.ptr<T>(), ys, x.ptr<T>(), xs, n,
                                                              dense, alpha);
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
  const Strided ys = cuda::strided_of(y, name);
  const Strided as = cuda::strided_as(a, y.shape, name), bs = cuda::strided_as(b, y.shape, name);
  const bool dense = y.contiguous() && a.contiguous() && b.contiguous() && a.shape == y.shape &&
                     b.shape == y.shape;
  fn::visit_binary(op, [&](auto f) {
    using F = decltype(f);
    dispatch_dtype(a.dtype, [&](auto tag) {
      using T = decltype(tag);
      if constexpr (std::is_floating_point_v<T> || F::kInt) {
        if constexpr (F::kCompare) {
          UNRAVEL_CHECK(y.dtype == DType::u8, "{}: output must be u8", name);
          binary_kernel<T, uint8_t, F><<<blocks_for(n), kThreads, 0, s>>>(
              y.ptr<uint8_t>(), ys, a.ptr<T>(), as, b.ptr<T>(), bs, n, dense, alpha);
        } else {
          UNRAVEL_CHECK(y.dtype == a.dtype, "{}: output dtype {} differs from inputs' {}", name,
                        dtype_name(y.dtype), dtype_name(a.dtype));
          binary_kernel<T, T, F><<<blocks_for(n), kThreads, 0, s>>>(
              y.ptr<T>(), ys, a.ptr<T>(), as, b.ptr<T>(), bs, n, dense, alpha);
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
  const Strided ys = cuda::strided_of(y, "where"), cs = cuda::strided_as(cond, y.shape, "where");
  const Strided as = cuda::strided_as(a, y.shape, "where"), bs = cuda::strided_as(b, y.shape, "where");
  dispatch_dtype(y.dtype, [&](auto tag) {
    using T = decltype(tag);
    where_kernel<T><<<blocks_for(n), kThreads, 0, s>>>(y.ptr<T>(), ys, cond.ptr<uint8_t>(), cs,
                                                       a.ptr<T>(), as, b.ptr<T>(), bs, n);
    UNRAVEL_CUDA_LAUNCH();
  });
}

}  // namespace unravel
