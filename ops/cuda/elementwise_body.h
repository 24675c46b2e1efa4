// The per-thread bodies of the CUDA elementwise kernels (ops/cuda/elementwise.cu) and the host
// side of their launches, in plain C++: nvcc builds them into the kernels and the host compiler
// runs them through emulate_launch (ops/cuda/launch_ctx.h) in tests/engine/test_cuda_emulated.cpp.
//
// copy with cast, fill, arange, unary, binary, where. The math is the functors of
// ops/functors.h, the very code the CPU loops run. Each body has a dense path (every operand
// contiguous: plain indexing) and a strided one (offsets from Strided, which covers broadcasting
// by 0 strides and transposed or sliced views). Grid-stride loops, 64-bit indices; every launch
// is elementwise_dims(n).
#pragma once
#include <cstdint>
#include <type_traits>

#include "engine/bf16.h"
#include "engine/check.h"
#include "engine/hd.h"
#include "engine/tensor_view.h"
#include "ops/cuda/kernel_common.h"

namespace unravel::cuda {

/// bf16 storage as a distinct type for the cast body.
struct Bf16 {
  uint16_t bits;
};

template <class To, class From> UNRAVEL_HD To convert(From v) {
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

/// fill's value in the element type.
template <class T> T fill_value(double value) {
  if constexpr (std::is_same_v<T, Bf16>) return Bf16{float_to_bf16(static_cast<float>(value))};
  else return static_cast<T>(value);
}

// --- bodies ------------------------------------------------------------------------------------

template <class To, class From, class Ctx>
UNRAVEL_HD void cast_body(Ctx& ctx, To* y, Strided ys, const From* x, Strided xs, int64_t n,
                          bool dense) {
  for (int64_t i = grid_first(ctx); i < n; i += grid_step(ctx)) {
    if (dense) y[i] = convert<To>(x[i]);
    else y[ys.offset(i)] = convert<To>(x[xs.offset(i)]);
  }
}

template <class T, class Ctx>
UNRAVEL_HD void fill_body(Ctx& ctx, T* y, Strided ys, int64_t n, bool dense, T v) {
  for (int64_t i = grid_first(ctx); i < n; i += grid_step(ctx)) y[dense ? i : ys.offset(i)] = v;
}

template <class T, class Ctx>
UNRAVEL_HD void arange_body(Ctx& ctx, T* y, int64_t n, double start, double step) {
  for (int64_t i = grid_first(ctx); i < n; i += grid_step(ctx))
    y[i] = static_cast<T>(start + static_cast<double>(i) * step);
}

template <class T, class F, class Ctx>
UNRAVEL_HD void unary_body(Ctx& ctx, T* y, Strided ys, const T* x, Strided xs, int64_t n,
                           bool dense, double alpha) {
  F f;
  for (int64_t i = grid_first(ctx); i < n; i += grid_step(ctx)) {
    if (dense) y[i] = f(x[i], alpha);
    else y[ys.offset(i)] = f(x[xs.offset(i)], alpha);
  }
}

template <class T, class R, class F, class Ctx>
UNRAVEL_HD void binary_body(Ctx& ctx, R* y, Strided ys, const T* a, Strided as, const T* b,
                            Strided bs, int64_t n, bool dense, double alpha) {
  F f;
  for (int64_t i = grid_first(ctx); i < n; i += grid_step(ctx)) {
    if (dense) y[i] = static_cast<R>(f(a[i], b[i], alpha));
    else y[ys.offset(i)] = static_cast<R>(f(a[as.offset(i)], b[bs.offset(i)], alpha));
  }
}

template <class T, class Ctx>
UNRAVEL_HD void where_body(Ctx& ctx, T* y, Strided ys, const uint8_t* c, Strided cs, const T* a,
                           Strided as, const T* b, Strided bs, int64_t n) {
  for (int64_t i = grid_first(ctx); i < n; i += grid_step(ctx))
    y[ys.offset(i)] = c[cs.offset(i)] ? a[as.offset(i)] : b[bs.offset(i)];
}

// --- host side: operand geometry (the launch is elementwise_dims(n)) ---------------------------

/// copy's kernel path (a converting or strided copy; equal dense copies are a memcpy).
struct CastArgs {
  Strided ys, xs;
  bool dense;
};
inline CastArgs cast_args(const TensorView& src, const TensorView& dst) {
  return {strided_of(dst, "copy"), strided_of(src, "copy"), src.contiguous() && dst.contiguous()};
}

/// unary: x is broadcast to y's shape.
struct UnaryArgs {
  Strided ys, xs;
  bool dense;
};
inline UnaryArgs unary_args(const TensorView& x, const TensorView& y, const char* name) {
  return {strided_of(y, name), strided_as(x, y.shape, name),
          x.contiguous() && y.contiguous() && x.shape == y.shape};
}

/// binary: a and b are broadcast to y's shape.
struct BinaryArgs {
  Strided ys, as, bs;
  bool dense;
};
inline BinaryArgs binary_args(const TensorView& a, const TensorView& b, const TensorView& y,
                              const char* name) {
  return {strided_of(y, name), strided_as(a, y.shape, name), strided_as(b, y.shape, name),
          y.contiguous() && a.contiguous() && b.contiguous() && a.shape == y.shape &&
              b.shape == y.shape};
}

/// where: cond, a and b are broadcast to y's shape (always the strided path).
struct WhereArgs {
  Strided ys, cs, as, bs;
};
inline WhereArgs where_args(const TensorView& cond, const TensorView& a, const TensorView& b,
                            const TensorView& y) {
  return {strided_of(y, "where"), strided_as(cond, y.shape, "where"),
          strided_as(a, y.shape, "where"), strided_as(b, y.shape, "where")};
}

}  // namespace unravel::cuda
