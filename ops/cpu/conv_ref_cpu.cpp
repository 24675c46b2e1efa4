// Direct reference convolution (float64), written as plain loops over strided views:
//   y[n,o,i,j]  = b[o] + Σ_{c,u,v} x[n,c, i·sh − ph + u·dh, j·sw − pw + v·dw] · w[o,c,u,v]
//   dx[n,c,h,w] = Σ_{o,u,v : h = i·sh − ph + u·dh, w = j·sw − pw + v·dw} dy[n,o,i,j] · w[o,c,u,v]
//   dw[o,c,u,v] = Σ_{n,i,j} dy[n,o,i,j] · x[n,c, i·sh − ph + u·dh, j·sw − pw + v·dw]
//   db[o]       = Σ_{n,i,j} dy[n,o,i,j]
// Taps that fall into the padding contribute zero. Each output element is written by exactly
// one task, so the loops parallelise over (n, o), (n, c) and (o, c) without atomics.
#include "ops/cpu/conv_ref.h"

#include "engine/check.h"
#include "ops/cpu/parallel.h"

namespace unravel::cpu {

namespace {

// Element (a, b, c, d) of a rank-4 f64 view.
struct View4 {
  const double* p;
  int64_t s0, s1, s2, s3;
  explicit View4(const TensorView& v)
      : p(v.ptr<double>()), s0(v.strides[0]), s1(v.strides[1]), s2(v.strides[2]),
        s3(v.strides[3]) {}
  double at(int64_t a, int64_t b, int64_t c, int64_t d) const {
    return p[a * s0 + b * s1 + c * s2 + d * s3];
  }
  double& ref(int64_t a, int64_t b, int64_t c, int64_t d) const {
    return const_cast<double*>(p)[a * s0 + b * s1 + c * s2 + d * s3];
  }
};

void check_f64(const TensorView& v, const char* fn, const char* what) {
  UNRAVEL_CHECK(v.dtype == DType::f64 && v.rank() == 4,
                "{}: reference path needs a rank-4 f64 {}, got {} {}", fn, what,
                dtype_name(v.dtype), v.shape.str());
}

}  // namespace

void conv2d_forward_ref(const TensorView& xv, const TensorView& wv, const TensorView& bv,
                        const TensorView& yv, const Conv2dParams& p) {
  check_f64(xv, "conv2d_forward", "input");
  check_f64(wv, "conv2d_forward", "weight");
  check_f64(yv, "conv2d_forward", "output");
  View4 x(xv), w(wv), y(yv);
  const int64_t N = xv.shape[0], C = xv.shape[1], H = xv.shape[2], W = xv.shape[3];
  const int64_t O = wv.shape[0], KH = wv.shape[2], KW = wv.shape[3];
  const int64_t OH = yv.shape[2], OW = yv.shape[3];
  const double* b = bv.ptr<double>();
  const int64_t bs = b ? bv.strides[0] : 0;
  parallel_for(N * O, C * KH * KW * OH * OW, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t n = t / O, o = t % O;
      for (int64_t i = 0; i < OH; ++i)
        for (int64_t j = 0; j < OW; ++j) {
          double acc = b ? b[o * bs] : 0.0;
          for (int64_t c = 0; c < C; ++c)
            for (int64_t u = 0; u < KH; ++u) {
              const int64_t h = i * p.stride_h - p.pad_h + u * p.dilation_h;
              if (h < 0 || h >= H) continue;
              for (int64_t v = 0; v < KW; ++v) {
                const int64_t ww = j * p.stride_w - p.pad_w + v * p.dilation_w;
                if (ww < 0 || ww >= W) continue;
                acc += x.at(n, c, h, ww) * w.at(o, c, u, v);
              }
            }
          y.ref(n, o, i, j) = acc;
        }
    }
  });
}

void conv2d_backward_data_ref(const TensorView& dyv, const TensorView& wv, const TensorView& dxv,
                              const Conv2dParams& p) {
  check_f64(dyv, "conv2d_backward_data", "output gradient");
  check_f64(wv, "conv2d_backward_data", "weight");
  check_f64(dxv, "conv2d_backward_data", "input gradient");
  View4 dy(dyv), w(wv), dx(dxv);
  const int64_t N = dxv.shape[0], C = dxv.shape[1], H = dxv.shape[2], W = dxv.shape[3];
  const int64_t O = wv.shape[0], KH = wv.shape[2], KW = wv.shape[3];
  const int64_t OH = dyv.shape[2], OW = dyv.shape[3];
  parallel_for(N * C, O * KH * KW * H * W, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t n = t / C, c = t % C;
      for (int64_t h = 0; h < H; ++h)
        for (int64_t ww = 0; ww < W; ++ww) {
          double acc = 0.0;
          for (int64_t u = 0; u < KH; ++u) {
            const int64_t hi = h + p.pad_h - u * p.dilation_h;  // = i * stride_h
            if (hi < 0 || hi % p.stride_h != 0 || hi / p.stride_h >= OH) continue;
            const int64_t i = hi / p.stride_h;
            for (int64_t v = 0; v < KW; ++v) {
              const int64_t wj = ww + p.pad_w - v * p.dilation_w;
              if (wj < 0 || wj % p.stride_w != 0 || wj / p.stride_w >= OW) continue;
              const int64_t j = wj / p.stride_w;
              for (int64_t o = 0; o < O; ++o) acc += dy.at(n, o, i, j) * w.at(o, c, u, v);
            }
          }
          dx.ref(n, c, h, ww) = acc;
        }
    }
  });
}

void conv2d_backward_weights_ref(const TensorView& xv, const TensorView& dyv, const TensorView& dwv,
                                 const TensorView& dbv, const Conv2dParams& p) {
  check_f64(xv, "conv2d_backward_weights", "input");
  check_f64(dyv, "conv2d_backward_weights", "output gradient");
  check_f64(dwv, "conv2d_backward_weights", "weight gradient");
  View4 x(xv), dy(dyv), dw(dwv);
  const int64_t N = xv.shape[0], C = xv.shape[1], H = xv.shape[2], W = xv.shape[3];
  const int64_t O = dwv.shape[0], KH = dwv.shape[2], KW = dwv.shape[3];
  const int64_t OH = dyv.shape[2], OW = dyv.shape[3];
  parallel_for(O * C, N * KH * KW * OH * OW, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t o = t / C, c = t % C;
      for (int64_t u = 0; u < KH; ++u)
        for (int64_t v = 0; v < KW; ++v) {
          double acc = 0.0;
          for (int64_t n = 0; n < N; ++n)
            for (int64_t i = 0; i < OH; ++i) {
              const int64_t h = i * p.stride_h - p.pad_h + u * p.dilation_h;
              if (h < 0 || h >= H) continue;
              for (int64_t j = 0; j < OW; ++j) {
                const int64_t ww = j * p.stride_w - p.pad_w + v * p.dilation_w;
                if (ww < 0 || ww >= W) continue;
                acc += dy.at(n, o, i, j) * x.at(n, c, h, ww);
              }
            }
          dw.ref(o, c, u, v) = acc;
        }
    }
  });
  if (dbv.data != nullptr) {
    UNRAVEL_CHECK(dbv.dtype == DType::f64 && dbv.rank() == 1 && dbv.shape[0] == O,
                  "conv2d_backward_weights: bias gradient must be f64 [{}], got {} {}", O,
                  dtype_name(dbv.dtype), dbv.shape.str());
    double* db = dbv.ptr<double>();
    for (int64_t o = 0; o < O; ++o) {
      double acc = 0.0;
      for (int64_t n = 0; n < N; ++n)
        for (int64_t i = 0; i < OH; ++i)
          for (int64_t j = 0; j < OW; ++j) acc += dy.at(n, o, i, j);
      db[o * dbv.strides[0]] = acc;
    }
  }
}

}  // namespace unravel::cpu
