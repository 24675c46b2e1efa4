// The per-thread bodies of the CUDA direct convolutions (ops/cuda/conv_direct.cu: the fallback
// of conv.cu when cuDNN refuses every candidate, the output extent is not cuDNN's, or a tensor
// exceeds its 32-bit counts; all of them with UNRAVEL_CUDA_CONV=direct) and their launch plans,
// in plain C++: nvcc builds them into the kernels and the host compiler runs them through
// emulate_launch (ops/cuda/launch_ctx.h) in tests/engine/test_cuda_emulated_conv_bn.cpp.
//
// One thread per output element (forward) or input element (backward data), grid-stride; one
// block per weight element (backward weights; grid-stride over them), whose threads each sum a
// strided share of the N·OH·OW terms and meet in a fixed-order block tree. Every sum is in
// double in an order fixed by the shapes: deterministic, any strides, groups.
#pragma once
#include <algorithm>
#include <cstdint>

#include "engine/hd.h"
#include "engine/tensor_view.h"
#include "ops/cuda/kernel_common.h"

namespace unravel::cuda_conv {

/// One convolution in the forward sense: x (n, c, h, w) ⋆ w (o, cg, kh, kw) → y (n, o, oh, ow),
/// cg = c / groups input and og = o / groups output channels per group. Plain values, passed to
/// the direct kernels by value.
struct Geom {
  int64_t n, c, h, w, o, cg, og, kh, kw, oh, ow;
  int64_t sh, sw, ph, pw, dh, dw, groups;
};

/// Strides (elements) of a 4-D view, by value for the kernels.
struct S4 {
  int64_t s0, s1, s2, s3;
  UNRAVEL_HD int64_t at(int64_t a, int64_t b, int64_t c, int64_t d) const {
    return a * s0 + b * s1 + c * s2 + d * s3;
  }
};
inline S4 s4(const TensorView& v) { return {v.strides[0], v.strides[1], v.strides[2], v.strides[3]}; }

/// y[n, o, r, q] = Σ_{c, a, b} x[n, g·cg + c, r·sh − ph + a·dh, q·sw − pw + b·dw] · w[o, c, a, b]
/// for the output element of row-major index i; *at = its offset in y.
template <class T> UNRAVEL_HD double forward_element(const T* x, S4 xs, const T* w, S4 ws, S4 ys,
                                                     const Geom& g, int64_t i, int64_t* at) {
  const int64_t q = i % g.ow, t1 = i / g.ow, r = t1 % g.oh, t2 = t1 / g.oh, o = t2 % g.o,
                n = t2 / g.o;
  const int64_t c0 = (o / g.og) * g.cg;
  double acc = 0;
  for (int64_t c = 0; c < g.cg; ++c)
    for (int64_t a = 0; a < g.kh; ++a) {
      const int64_t ih = r * g.sh - g.ph + a * g.dh;
      if (ih < 0 || ih >= g.h) continue;
      for (int64_t b = 0; b < g.kw; ++b) {
        const int64_t iw = q * g.sw - g.pw + b * g.dw;
        if (iw < 0 || iw >= g.w) continue;
        acc += static_cast<double>(x[xs.at(n, c0 + c, ih, iw)]) *
               static_cast<double>(w[ws.at(o, c, a, b)]);
      }
    }
  *at = ys.at(n, o, r, q);
  return acc;
}

/// dx[n, ci, ih, iw] = Σ over the windows that read it of dy[n, o, r, q] · w[o, ci − g·cg, a, b]
/// for the input element of row-major index i; *at = its offset in dx.
template <class T> UNRAVEL_HD double backward_data_element(const T* dy, S4 ys, const T* w, S4 ws,
                                                           S4 xs, const Geom& g, int64_t i,
                                                           int64_t* at) {
  const int64_t iw = i % g.w, t1 = i / g.w, ih = t1 % g.h, t2 = t1 / g.h, ci = t2 % g.c,
                n = t2 / g.c;
  const int64_t grp = ci / g.cg, c = ci % g.cg;
  double acc = 0;
  for (int64_t o = grp * g.og; o < (grp + 1) * g.og; ++o)
    for (int64_t a = 0; a < g.kh; ++a) {
      const int64_t rn = ih + g.ph - a * g.dh;
      if (rn < 0 || rn % g.sh != 0) continue;
      const int64_t r = rn / g.sh;
      if (r >= g.oh) continue;
      for (int64_t b = 0; b < g.kw; ++b) {
        const int64_t qn = iw + g.pw - b * g.dw;
        if (qn < 0 || qn % g.sw != 0) continue;
        const int64_t q = qn / g.sw;
        if (q >= g.ow) continue;
        acc +=
            static_cast<double>(dy[ys.at(n, o, r, q)]) * static_cast<double>(w[ws.at(o, c, a, b)]);
      }
    }
  *at = xs.at(n, ci, ih, iw);
  return acc;
}

/// Part of dw[o, c, a, b] = Σ_{n, r, q} dy[n, o, r, q] · x[n, g·cg + c, r·sh − ph + a·dh,
/// q·sw − pw + b·dw] for the weight element of row-major index e: the terms j = j0, j0 + step, ...
/// of the N·OH·OW; *at = the element's offset in dw.
template <class T> UNRAVEL_HD double backward_weights_part(const T* x, S4 xs, const T* dy, S4 ys,
                                                           S4 ws, const Geom& g, int64_t e,
                                                           int64_t j0, int64_t step, int64_t* at) {
  const int64_t b = e % g.kw, t1 = e / g.kw, a = t1 % g.kh, t2 = t1 / g.kh, c = t2 % g.cg,
                o = t2 / g.cg;
  const int64_t ci = (o / g.og) * g.cg + c;
  const int64_t m = g.n * g.oh * g.ow;
  double acc = 0;
  for (int64_t j = j0; j < m; j += step) {
    const int64_t q = j % g.ow, u = j / g.ow, r = u % g.oh, n = u / g.oh;
    const int64_t ih = r * g.sh - g.ph + a * g.dh, iw = q * g.sw - g.pw + b * g.dw;
    if (ih < 0 || ih >= g.h || iw < 0 || iw >= g.w) continue;
    acc +=
        static_cast<double>(dy[ys.at(n, o, r, q)]) * static_cast<double>(x[xs.at(n, ci, ih, iw)]);
  }
  *at = ws.at(o, c, a, b);
  return acc;
}

/// Forward: y's `total` elements, one thread each (grid-stride); launch elementwise_dims(total).
template <class T, class Ctx>
UNRAVEL_HD void direct_forward_body(Ctx& ctx, const T* x, S4 xs, const T* w, S4 ws, T* y, S4 ys,
                                    const Geom& g, int64_t total) {
  for (int64_t i = cuda::grid_first(ctx); i < total; i += cuda::grid_step(ctx)) {
    int64_t at = 0;
    const double v = forward_element(x, xs, w, ws, ys, g, i, &at);
    y[at] = static_cast<T>(v);
  }
}

/// Backward data: dx's `total` elements, one thread each; launch elementwise_dims(total).
template <class T, class Ctx>
UNRAVEL_HD void direct_backward_data_body(Ctx& ctx, const T* dy, S4 ys, const T* w, S4 ws, T* dx,
                                          S4 xs, const Geom& g, int64_t total) {
  for (int64_t i = cuda::grid_first(ctx); i < total; i += cuda::grid_step(ctx)) {
    int64_t at = 0;
    const double v = backward_data_element(dy, ys, w, ws, xs, g, i, &at);
    dx[at] = static_cast<T>(v);
  }
}

/// Threads of the backward-weights blocks (a power of two; the body takes any).
constexpr unsigned kDirectWeightsThreads = 256;

/// Backward weights: one block per weight element (grid-stride over the `total`), a fixed-order
/// block tree over its threads' parts; launch direct_weights_dims(total). Every thread of a
/// block runs the same number of iterations (e depends on the block only), so the barriers
/// inside block_sum are reached by all.
template <class T, class Ctx>
UNRAVEL_HD void direct_backward_weights_body(Ctx& ctx, const T* x, S4 xs, const T* dy, S4 ys,
                                             T* dw, S4 ws, const Geom& g, int64_t total) {
  double* sh = ctx.template shared<double>();
  for (int64_t e = ctx.block_idx_x(); e < total; e += ctx.grid_dim_x()) {
    int64_t at = 0;
    const double part =
        backward_weights_part(x, xs, dy, ys, ws, g, e, ctx.thread_idx_x(), ctx.block_dim_x(), &at);
    const double sum = cuda::block_sum(ctx, part, sh);
    if (ctx.thread_idx_x() == 0) dw[at] = static_cast<T>(sum);
  }
}

/// The backward-weights launch: min(total, max_blocks) blocks of `threads` (a power of two),
/// one double of shared memory per thread.
inline cuda::LaunchDims direct_weights_dims(int64_t total, int64_t max_blocks = int64_t{1} << 20,
                                            unsigned threads = kDirectWeightsThreads) {
  const int64_t blocks = std::max<int64_t>(1, std::min(total, max_blocks));
  return cuda::LaunchDims{cuda::Dim3{static_cast<unsigned>(blocks)}, cuda::Dim3{threads},
                          threads * sizeof(double)};
}

}  // namespace unravel::cuda_conv
