// CUDA reductions (sum, mean, max, min, prod) and arg_reduce with the CPU's semantics. The
// bodies, their launch plans and the layout of the work are in ops/cuda/reduce_body.h; the
// kernels here are thin wrappers. Sums are not in the CPU's order, so f32 / f64 sums may differ
// from the CPU in the last bits; max / min / arg results equal the CPU's except that a max / min
// over +0.0 and -0.0 may return the other zero.
#include <type_traits>

#include "engine/check.h"
#include "ops/kernel_checks.h"
#include "engine/cuda/cuda_backend.h"
#include "ops/cuda/cuda_common.cuh"
#include "ops/cuda/reduce_body.h"

namespace unravel {

using cuda::DeviceCtx;
using cuda::Strided;

namespace {

template <ReduceOp Op, class In, class Acc, class Out>
__global__ void reduce_serial_kernel(const In* x, Strided kept, Strided red, int64_t out_n,
                                     int64_t red_n, Out* y, Strided ys, Acc init, int64_t count,
                                     Acc empty_mean) {
  DeviceCtx c;
  cuda::reduce_serial_body<Op, In, Acc, Out>(c, x, kept, red, out_n, red_n, y, ys, init, count,
                                             empty_mean);
}

template <ReduceOp Op, class In, class Acc, class Out>
__global__ void reduce_block_kernel(const In* x, Strided kept, Strided red, int64_t out_n,
                                    int64_t red_n, int64_t parts, int64_t chunk, Out* y,
                                    Strided ys, Acc* partial, Acc init, int64_t count,
                                    Acc empty_mean) {
  DeviceCtx c;
  cuda::reduce_block_body<Op, In, Acc, Out>(c, x, kept, red, out_n, red_n, parts, chunk, y, ys,
                                            partial, init, count, empty_mean);
}

template <ReduceOp Op, class T> void reduce_impl(const TensorView& x, const TensorView& y) {
  using Acc = typename cuda::AccType<T>::type;
  using Kind = cuda::ReducePlan::Kind;
  const cuda::ReduceGeom g = cuda::reduce_geometry(x, y, "reduce");
  if (g.out_n == 0) return;
  cudaStream_t s = cuda::stream_of(y);
  const Acc init = cuda::reduce_identity<Acc>(Op);
  const Acc empty_mean = cuda::reduce_empty_mean<Acc>();
  const T* xp = x.ptr<T>();
  T* yp = y.ptr<T>();
  const cuda::ReducePlan p = cuda::reduce_plan<Acc>(g.out_n, g.red_n);
  switch (p.kind) {
    case Kind::serial:
      reduce_serial_kernel<Op, T, Acc, T><<<UNRAVEL_LAUNCH_DIMS(p.main, s)>>>(
          xp, g.kept, g.red, g.out_n, g.red_n, yp, g.ys, init, g.red_n, empty_mean);
      UNRAVEL_CUDA_LAUNCH();
      return;
    case Kind::block:
      reduce_block_kernel<Op, T, Acc, T><<<UNRAVEL_LAUNCH_DIMS(p.main, s)>>>(
          xp, g.kept, g.red, g.out_n, g.red_n, 1, p.chunk, yp, g.ys, nullptr, init, g.red_n,
          empty_mean);
      UNRAVEL_CUDA_LAUNCH();
      return;
    case Kind::chunked: {
      cuda::Scratch partial(static_cast<size_t>(g.out_n * p.parts) * sizeof(Acc));
      reduce_block_kernel<Op, T, Acc, T><<<UNRAVEL_LAUNCH_DIMS(p.main, s)>>>(
          xp, g.kept, g.red, g.out_n, g.red_n, p.parts, p.chunk, yp, g.ys, partial.as<Acc>(),
          init, g.red_n, empty_mean);
      UNRAVEL_CUDA_LAUNCH();
      reduce_serial_kernel<Op, Acc, Acc, T><<<UNRAVEL_LAUNCH_DIMS(p.combine, s)>>>(
          partial.as<Acc>(), p.pk, p.pr, g.out_n, p.parts, yp, g.ys, init, g.red_n, empty_mean);
      UNRAVEL_CUDA_LAUNCH();
      return;
    }
  }
}

template <class T>
__global__ void arg_serial_kernel(const T* x, Strided kept, int64_t xs, int64_t n, int64_t out_n,
                                  int64_t* y, Strided ys, bool is_max) {
  DeviceCtx c;
  cuda::arg_serial_body<T>(c, x, kept, xs, n, out_n, y, ys, is_max);
}

template <class T>
__global__ void arg_block_kernel(const T* x, Strided kept, int64_t xs, int64_t n, int64_t out_n,
                                 int64_t* y, Strided ys, bool is_max) {
  DeviceCtx c;
  cuda::arg_block_body<T>(c, x, kept, xs, n, out_n, y, ys, is_max);
}

}  // namespace

void CudaBackend::reduce(ReduceOp op, const TensorView& x, const TensorView& y) {
  UNRAVEL_CUDA_TIMED("reduce", y.device.index);
  checks::reduce(op, x, y);
  UNRAVEL_CHECK(x.device == y.device, "reduce: input on {} and output on {}", x.device.str(),
                y.device.str());
  dispatch_dtype(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    dispatch_reduce(op, [&](auto o) { reduce_impl<decltype(o)::value, T>(x, y); });
  });
}

void CudaBackend::arg_reduce(bool is_max, const TensorView& x, int axis, const TensorView& y) {
  UNRAVEL_CUDA_TIMED("arg_reduce", y.device.index);
  const cuda::ArgGeom g = cuda::arg_geometry(x, axis, y, is_max ? "argmax" : "argmin");
  if (g.out_n == 0) return;
  cudaStream_t s = cuda::stream_of(y);
  dispatch_dtype(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    const cuda::ArgPlan p = cuda::arg_plan<T>(g.n, g.out_n);
    if (p.serial) {
      arg_serial_kernel<T><<<UNRAVEL_LAUNCH_DIMS(p.dims, s)>>>(
          x.ptr<T>(), g.kept, g.xs, g.n, g.out_n, y.ptr<int64_t>(), g.ys, is_max);
    } else {
      arg_block_kernel<T><<<UNRAVEL_LAUNCH_DIMS(p.dims, s)>>>(
          x.ptr<T>(), g.kept, g.xs, g.n, g.out_n, y.ptr<int64_t>(), g.ys, is_max);
    }
    UNRAVEL_CUDA_LAUNCH();
  });
}

}  // namespace unravel
