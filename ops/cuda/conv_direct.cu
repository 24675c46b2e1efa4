// CUDA convolutions in our own direct kernels: the fallback of conv.cu when cuDNN refuses every
// candidate, the output extent is not cuDNN's, or a tensor exceeds its 32-bit counts (and all
// of them with UNRAVEL_CUDA_CONV=direct). One thread per output element (forward) or input
// element (backward data), one block per weight element (backward weights), each summing in
// double in a fixed order: deterministic, any strides, groups.
#include <algorithm>

#include "ops/cuda/conv_geometry.cuh"

namespace unravel::cuda_conv {

namespace {

/// Threads of the direct backward-weights kernel's blocks.
constexpr int kBlock = 256;

// --- direct kernels (the fallback) -----------------------------------------------------------

/// Strides (elements) of a 4-D view, by value for the kernels.
struct S4 {
  int64_t s0, s1, s2, s3;
  __host__ __device__ int64_t at(int64_t a, int64_t b, int64_t c, int64_t d) const {
    return a * s0 + b * s1 + c * s2 + d * s3;
  }
};
S4 s4(const TensorView& v) { return {v.strides[0], v.strides[1], v.strides[2], v.strides[3]}; }

/// y[n, o, r, q] = Σ_{c, a, b} x[n, g·cg + c, r·sh − ph + a·dh, q·sw − pw + b·dw] · w[o, c, a, b]
/// for the output element of row-major index i; *at = its offset in y.
template <class T> __host__ __device__ double forward_element(const T* x, S4 xs, const T* w, S4 ws,
                                                              S4 ys, const Geom& g, int64_t i,
                                                              int64_t* at) {
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
template <class T> __host__ __device__ double backward_data_element(const T* dy, S4 ys, const T* w,
                                                                    S4 ws, S4 xs, const Geom& g,
                                                                    int64_t i, int64_t* at) {
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
template <class T> __host__ __device__ double backward_weights_part(const T* x, S4 xs, const T* dy,
                                                                    S4 ys, S4 ws, const Geom& g,
                                                                    int64_t e, int64_t j0,
                                                                    int64_t step, int64_t* at) {
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

template <class T> __global__ void direct_forward_kernel(const T* x, S4 xs, const T* w, S4 ws, T* y,
                                                         S4 ys, Geom g, int64_t total) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    int64_t at = 0;
    const double v = forward_element(x, xs, w, ws, ys, g, i, &at);
    y[at] = static_cast<T>(v);
  }
}

template <class T> __global__ void direct_backward_data_kernel(const T* dy, S4 ys, const T* w,
                                                               S4 ws, T* dx, S4 xs, Geom g,
                                                               int64_t total) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    int64_t at = 0;
    const double v = backward_data_element(dy, ys, w, ws, xs, g, i, &at);
    dx[at] = static_cast<T>(v);
  }
}

/// One block per weight element (grid-stride over them), a fixed-order block reduction.
template <class T> __global__ void direct_backward_weights_kernel(const T* x, S4 xs, const T* dy,
                                                                  S4 ys, T* dw, S4 ws, Geom g,
                                                                  int64_t total) {
  __shared__ double shared[kBlock];
  for (int64_t e = blockIdx.x; e < total; e += gridDim.x) {
    int64_t at = 0;
    const double part = backward_weights_part(x, xs, dy, ys, ws, g, e, threadIdx.x, kBlock, &at);
    const double sum = cuda::block_sum<kBlock>(part, shared);
    if (threadIdx.x == 0) dw[at] = static_cast<T>(sum);
  }
}

}  // namespace

void direct_conv(Pass pass, const TensorView& x, const TensorView& w, const TensorView& y,
                 const Geom& g) {
  cudaStream_t s = cuda::stream_of(x);
  cuda::dispatch_float(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    if (pass == Pass::fwd) {
      const int64_t total = y.numel();
      direct_forward_kernel<T><<<cuda::blocks_for(total), cuda::kThreads, 0, s>>>(
          x.ptr<T>(), s4(x), w.ptr<T>(), s4(w), y.ptr<T>(), s4(y), g, total);
    } else if (pass == Pass::bwd_data) {
      const int64_t total = x.numel();
      direct_backward_data_kernel<T><<<cuda::blocks_for(total), cuda::kThreads, 0, s>>>(
          y.ptr<T>(), s4(y), w.ptr<T>(), s4(w), x.ptr<T>(), s4(x), g, total);
    } else {
      const int64_t total = w.numel();
      const unsigned grid = static_cast<unsigned>(std::min<int64_t>(total, int64_t{1} << 20));
      direct_backward_weights_kernel<T><<<grid, kBlock, 0, s>>>(x.ptr<T>(), s4(x), y.ptr<T>(),
                                                                s4(y), w.ptr<T>(), s4(w), g, total);
    }
    UNRAVEL_CUDA_LAUNCH();
  });
}

}  // namespace unravel::cuda_conv
