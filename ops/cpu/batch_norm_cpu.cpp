// CPU batch normalisation over (N, C) or (N, C, H, W) views (any strides), f32 and f64. Each
// channel c is independent, so the loops run in parallel over channels. With M = N·H·W values
// per channel:
//   training:  μ = Σx / M,  σ² = Σ(x − μ)² / M (two passes),  r = 1 / √(σ² + ε)
//   eval:      μ, σ² from the given running statistics
//   y = γ·(x − μ)·r + β                                    (γ = 1, β = 0 when absent)
//   backward (training): x̂ = (x − μ)·r,  dβ = Σdy,  dγ = Σdy·x̂,
//                        dx = γ·r·(dy − dβ/M − x̂·dγ/M)
// Sums accumulate in double for both dtypes.
#include <cmath>

#include "engine/check.h"
#include "ops/cpu/kernels.h"
#include "ops/cpu/parallel.h"

namespace unravel::cpu {
UNRAVEL_CPU_ISA_BEGIN

namespace {

// Iteration over the M = N·H·W elements of one channel of a rank-2 or rank-4 view.
struct ChannelIter {
  int64_t n, h, w;
  int64_t sn, sc, sh, sw;
  explicit ChannelIter(const TensorView& v) {
    n = v.shape[0];
    sn = v.strides[0];
    sc = v.strides[1];
    if (v.rank() == 4) {
      h = v.shape[2], w = v.shape[3], sh = v.strides[2], sw = v.strides[3];
    } else {
      h = w = 1, sh = sw = 0;
    }
  }
  int64_t count() const { return n * h * w; }
  int64_t base(int64_t c, int64_t a, int64_t b) const { return a * sn + c * sc + b * sh; }
};

// f(off_a, off_b, off_c) over channel c of three same-shape views, in one element order.
template <class F>
void each3(const ChannelIter& A, const ChannelIter& B, const ChannelIter& D, int64_t c, F&& f) {
  for (int64_t a = 0; a < A.n; ++a)
    for (int64_t b = 0; b < A.h; ++b) {
      const int64_t pa = A.base(c, a, b), pb = B.base(c, a, b), pd = D.base(c, a, b);
      for (int64_t d = 0; d < A.w; ++d) f(pa + d * A.sw, pb + d * B.sw, pd + d * D.sw);
    }
}

// Reads element c of an optional 1-D view (fallback when absent).
template <class T> double at(const TensorView& v, int64_t c, double fallback) {
  return v.data ? static_cast<double>(v.ptr<T>()[c * v.strides[0]]) : fallback;
}
template <class T> void put(const TensorView& v, int64_t c, double value) {
  if (v.data) v.ptr<T>()[c * v.strides[0]] = static_cast<T>(value);
}

void check_bn_view(const TensorView& v, const TensorView& x, const char* fn, const char* what) {
  UNRAVEL_CHECK(v.shape == x.shape && v.dtype == x.dtype,
                "{}: {} {} {} must match the input {} {}", fn, what, dtype_name(v.dtype),
                v.shape.str(), dtype_name(x.dtype), x.shape.str());
}
void check_channel_view(const TensorView& v, int64_t C, DType dt, const char* fn,
                        const char* what) {
  if (!v.data) return;
  UNRAVEL_CHECK(v.rank() == 1 && v.shape[0] == C && v.dtype == dt,
                "{}: {} must be {} [{}], got {} {}", fn, what, dtype_name(dt), C,
                dtype_name(v.dtype), v.shape.str());
}

template <class T>
void bn_forward(const TensorView& x, const TensorView& gamma, const TensorView& beta,
                const TensorView& mean, const TensorView& var, bool training, double eps,
                const TensorView& y, const TensorView& save_mean, const TensorView& save_invstd) {
  const ChannelIter xi(x), yi(y);
  const int64_t C = x.shape[1], M = xi.count();
  const T* xp = x.ptr<T>();
  T* yp = y.ptr<T>();
  cpu::parallel_for(C, 4 * M, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      double mu, invstd;
      if (training) {
        double s = 0;
        each3(xi, xi, xi, c, [&](int64_t o, int64_t, int64_t) { s += xp[o]; });
        mu = s / static_cast<double>(M);
        double ss = 0;
        each3(xi, xi, xi, c, [&](int64_t o, int64_t, int64_t) {
          const double d = xp[o] - mu;
          ss += d * d;
        });
        invstd = 1.0 / std::sqrt(ss / static_cast<double>(M) + eps);
      } else {
        mu = at<T>(mean, c, 0.0);
        invstd = 1.0 / std::sqrt(at<T>(var, c, 1.0) + eps);
      }
      put<T>(save_mean, c, mu);
      put<T>(save_invstd, c, invstd);
      const double scale = at<T>(gamma, c, 1.0) * invstd;
      const double shift = at<T>(beta, c, 0.0) - mu * scale;
      each3(xi, yi, yi, c, [&](int64_t o, int64_t q, int64_t) {
        yp[q] = static_cast<T>(xp[o] * scale + shift);
      });
    }
  });
}

template <class T>
void bn_backward(const TensorView& dy, const TensorView& x, const TensorView& gamma,
                 const TensorView& save_mean, const TensorView& save_invstd,
                 const TensorView& dx, const TensorView& dgamma, const TensorView& dbeta) {
  const ChannelIter xi(x), gi(dy);
  const int64_t C = x.shape[1], M = xi.count();
  const T* xp = x.ptr<T>();
  const T* gp = dy.ptr<T>();
  T* dxp = dx.data ? dx.ptr<T>() : nullptr;
  const ChannelIter di = dxp ? ChannelIter(dx) : xi;
  cpu::parallel_for(C, 6 * M, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const double mu = at<T>(save_mean, c, 0.0), r = at<T>(save_invstd, c, 1.0);
      double sum_dy = 0, sum_dy_xc = 0;
      each3(xi, gi, gi, c, [&](int64_t o, int64_t q, int64_t) {
        const double g = gp[q];
        sum_dy += g;
        sum_dy_xc += g * (xp[o] - mu);
      });
      const double dg = sum_dy_xc * r;  // Σ dy·x̂
      put<T>(dgamma, c, dg);
      put<T>(dbeta, c, sum_dy);
      if (!dxp) continue;
      const double k = at<T>(gamma, c, 1.0) * r, inv_m = 1.0 / static_cast<double>(M);
      each3(xi, gi, di, c, [&](int64_t o, int64_t q, int64_t z) {
        const double xhat = (xp[o] - mu) * r;
        dxp[z] = static_cast<T>(k * (gp[q] - sum_dy * inv_m - xhat * dg * inv_m));
      });
    }
  });
}

}  // namespace

void batch_norm_forward(const TensorView& x, const TensorView& gamma,
                                    const TensorView& beta, const TensorView& mean,
                                    const TensorView& var, bool training, double eps,
                                    const TensorView& y, const TensorView& save_mean,
                                    const TensorView& save_invstd) {
  const char* fn = "batch_norm_forward";
  UNRAVEL_CHECK(x.rank() == 2 || x.rank() == 4, "{}: input must be (N, C) or (N, C, H, W), got {}",
                fn, x.shape.str());
  check_bn_view(y, x, fn, "output");
  const int64_t C = x.shape[1];
  check_channel_view(gamma, C, x.dtype, fn, "weight (gamma)");
  check_channel_view(beta, C, x.dtype, fn, "bias (beta)");
  check_channel_view(save_mean, C, x.dtype, fn, "save_mean");
  check_channel_view(save_invstd, C, x.dtype, fn, "save_invstd");
  if (!training) {
    UNRAVEL_CHECK(mean.data && var.data, "{}: eval mode needs running mean and var", fn);
    check_channel_view(mean, C, x.dtype, fn, "running mean");
    check_channel_view(var, C, x.dtype, fn, "running var");
  }
  if (x.dtype == DType::f32)
    bn_forward<float>(x, gamma, beta, mean, var, training, eps, y, save_mean, save_invstd);
  else if (x.dtype == DType::f64)
    bn_forward<double>(x, gamma, beta, mean, var, training, eps, y, save_mean, save_invstd);
  else
    UNRAVEL_CHECK(false, "{}: dtype {} is not supported (f32, f64)", fn, dtype_name(x.dtype));
}

void batch_norm_backward(const TensorView& dy, const TensorView& x,
                                     const TensorView& gamma, const TensorView& save_mean,
                                     const TensorView& save_invstd, const TensorView& dx,
                                     const TensorView& dgamma, const TensorView& dbeta) {
  const char* fn = "batch_norm_backward";
  UNRAVEL_CHECK(x.rank() == 2 || x.rank() == 4, "{}: input must be (N, C) or (N, C, H, W), got {}",
                fn, x.shape.str());
  check_bn_view(dy, x, fn, "output gradient");
  if (dx.data) check_bn_view(dx, x, fn, "input gradient");
  const int64_t C = x.shape[1];
  UNRAVEL_CHECK(save_mean.data && save_invstd.data, "{}: needs the saved mean and invstd", fn);
  for (const TensorView* v : {&gamma, &save_mean, &save_invstd, &dgamma, &dbeta})
    check_channel_view(*v, C, x.dtype, fn, "per-channel tensor");
  if (x.dtype == DType::f32)
    bn_backward<float>(dy, x, gamma, save_mean, save_invstd, dx, dgamma, dbeta);
  else if (x.dtype == DType::f64)
    bn_backward<double>(dy, x, gamma, save_mean, save_invstd, dx, dgamma, dbeta);
  else
    UNRAVEL_CHECK(false, "{}: dtype {} is not supported (f32, f64)", fn, dtype_name(x.dtype));
}

UNRAVEL_CPU_ISA_END
}  // namespace unravel::cpu
