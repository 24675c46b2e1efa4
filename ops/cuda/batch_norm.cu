// CUDA batch normalisation in our own kernels: one block per channel reduces in double with a
// fixed-order shared-memory tree (deterministic), with the CPU's exact formulas
// (ops/cpu/batch_norm_cpu.cpp); gamma / beta optional; saved statistics stored in the element type.
#include "engine/cuda/cuda_backend.h"
#include "ops/cuda/cuda_common.cuh"

namespace unravel {

namespace {

/// Threads of a batch-norm block (one block per channel, so a large block keeps enough warps
/// per SM).
constexpr int kBnBlock = 512;

// --- batch norm ---------------------------------------------------------------------------------

/// Offset of element e (0 ≤ e < N·H·W, row-major over n, h, w) of channel c in a rank-2 / rank-4
/// view.
struct ChannelMap {
  int64_t h = 1, w = 1, sn = 0, sc = 0, sh = 0, sw = 0;
  __host__ __device__ int64_t at(int64_t c, int64_t e) const {
    const int64_t d = e % w, rest = e / w, b = rest % h, a = rest / h;
    return a * sn + c * sc + b * sh + d * sw;
  }
};

ChannelMap channel_map(const TensorView& v) {
  ChannelMap m;
  m.sn = v.strides[0];
  m.sc = v.strides[1];
  if (v.rank() == 4) {
    m.h = v.shape[2];
    m.w = v.shape[3];
    m.sh = v.strides[2];
    m.sw = v.strides[3];
  }
  return m;
}

/// Element c of an optional per-channel vector (fallback when absent).
template <class T> __device__ double opt(const T* p, int64_t stride, int64_t c, double fallback) {
  return p != nullptr ? static_cast<double>(p[c * stride]) : fallback;
}

/// One block per channel c:
///   training: μ = Σx / M, σ² = Σ(x − μ)² / M (two passes), r = 1 / √(σ² + ε);
///   eval: μ, σ² from mean / var;
///   y = x·(γ·r) + (β − μ·γ·r), with γ = 1, β = 0 when absent (the CPU's expression).
template <class T> __global__ void __launch_bounds__(kBnBlock)
    bn_forward_kernel(const T* x, ChannelMap xm, T* y, ChannelMap ym, int64_t M, const T* gamma,
                      int64_t sg, const T* beta, int64_t sb, const T* mean, int64_t smu,
                      const T* var, int64_t sv, bool training, double eps, T* save_mean,
                      int64_t ssm, T* save_invstd, int64_t ssi) {
  __shared__ double shared[kBnBlock];
  const int64_t c = blockIdx.x;
  double mu, invstd;
  if (training) {
    double s = 0;
    for (int64_t e = threadIdx.x; e < M; e += kBnBlock) s += static_cast<double>(x[xm.at(c, e)]);
    mu = cuda::block_sum<kBnBlock>(s, shared) / static_cast<double>(M);
    double ss = 0;
    for (int64_t e = threadIdx.x; e < M; e += kBnBlock) {
      const double dv = static_cast<double>(x[xm.at(c, e)]) - mu;
      ss += dv * dv;
    }
    invstd = 1.0 / sqrt(cuda::block_sum<kBnBlock>(ss, shared) / static_cast<double>(M) + eps);
  } else {
    mu = opt(mean, smu, c, 0.0);
    invstd = 1.0 / sqrt(opt(var, sv, c, 1.0) + eps);
  }
  if (threadIdx.x == 0) {
    if (save_mean != nullptr) save_mean[c * ssm] = static_cast<T>(mu);
    if (save_invstd != nullptr) save_invstd[c * ssi] = static_cast<T>(invstd);
  }
  const double scale = opt(gamma, sg, c, 1.0) * invstd;
  const double shift = opt(beta, sb, c, 0.0) - mu * scale;
  for (int64_t e = threadIdx.x; e < M; e += kBnBlock)
    y[ym.at(c, e)] = static_cast<T>(static_cast<double>(x[xm.at(c, e)]) * scale + shift);
}

/// One block per channel c (training-mode backward), μ and r the saved statistics:
///   x̂ = (x − μ)·r, dβ = Σdy, dγ = Σdy·x̂ = r·Σdy·(x − μ), dx = γ·r·(dy − dβ/M − x̂·dγ/M).
template <class T> __global__ void __launch_bounds__(kBnBlock)
    bn_backward_kernel(const T* dy, ChannelMap gm, const T* x, ChannelMap xm, int64_t M,
                       const T* gamma, int64_t sg, const T* save_mean, int64_t ssm,
                       const T* save_invstd, int64_t ssi, T* dx, ChannelMap dm, T* dgamma,
                       int64_t sdg, T* dbeta, int64_t sdb) {
  __shared__ double shared[kBnBlock];
  const int64_t c = blockIdx.x;
  const double mu = static_cast<double>(save_mean[c * ssm]);
  const double r = static_cast<double>(save_invstd[c * ssi]);
  double s1 = 0, s2 = 0;
  for (int64_t e = threadIdx.x; e < M; e += kBnBlock) {
    const double g = static_cast<double>(dy[gm.at(c, e)]);
    s1 += g;
    s2 += g * (static_cast<double>(x[xm.at(c, e)]) - mu);
  }
  const double sum_dy = cuda::block_sum<kBnBlock>(s1, shared);
  const double dg = cuda::block_sum<kBnBlock>(s2, shared) * r;
  if (threadIdx.x == 0) {
    if (dgamma != nullptr) dgamma[c * sdg] = static_cast<T>(dg);
    if (dbeta != nullptr) dbeta[c * sdb] = static_cast<T>(sum_dy);
  }
  if (dx == nullptr) return;  // uniform over the block
  const double k = opt(gamma, sg, c, 1.0) * r, inv_m = 1.0 / static_cast<double>(M);
  for (int64_t e = threadIdx.x; e < M; e += kBnBlock) {
    const double xhat = (static_cast<double>(x[xm.at(c, e)]) - mu) * r;
    dx[dm.at(c, e)] = static_cast<T>(
        k * (static_cast<double>(dy[gm.at(c, e)]) - sum_dy * inv_m - xhat * dg * inv_m));
  }
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

template <class T> const T* cptr(const TensorView& v) { return static_cast<const T*>(v.data); }
template <class T> T* mptr(const TensorView& v) { return static_cast<T*>(v.data); }
/// Element stride of an optional 1-D view (0 when absent).
int64_t stride0(const TensorView& v) { return v.data != nullptr ? v.strides[0] : 0; }

unsigned channel_grid(int64_t C, const char* fn) {
  UNRAVEL_CHECK(C <= INT_MAX, "{}: {} channels exceed the grid", fn, C);
  return static_cast<unsigned>(C);
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
  const unsigned grid = channel_grid(C, fn);
  cudaStream_t s = cuda::stream_of(x);
  const ChannelMap xm = channel_map(x), ym = channel_map(y);
  // Eval reads only the given statistics; training ignores them (the op updates running stats).
  const TensorView no;
  const TensorView& mu = training ? no : mean;
  const TensorView& va = training ? no : var;
  cuda::dispatch_float(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    bn_forward_kernel<T><<<grid, kBnBlock, 0, s>>>(
        cptr<T>(x), xm, mptr<T>(y), ym, M, cptr<T>(gamma), stride0(gamma), cptr<T>(beta),
        stride0(beta), cptr<T>(mu), stride0(mu), cptr<T>(va), stride0(va), training, eps,
        mptr<T>(save_mean), stride0(save_mean), mptr<T>(save_invstd), stride0(save_invstd));
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
  const unsigned grid = channel_grid(C, fn);
  cudaStream_t s = cuda::stream_of(x);
  const ChannelMap xm = channel_map(x), gm = channel_map(dy);
  const ChannelMap dm = dx.data != nullptr ? channel_map(dx) : xm;
  cuda::dispatch_float(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    bn_backward_kernel<T><<<grid, kBnBlock, 0, s>>>(
        cptr<T>(dy), gm, cptr<T>(x), xm, M, cptr<T>(gamma), stride0(gamma), cptr<T>(save_mean),
        stride0(save_mean), cptr<T>(save_invstd), stride0(save_invstd), mptr<T>(dx), dm,
        mptr<T>(dgamma), stride0(dgamma), mptr<T>(dbeta), stride0(dbeta));
    UNRAVEL_CUDA_LAUNCH();
  });
}

}  // namespace unravel
