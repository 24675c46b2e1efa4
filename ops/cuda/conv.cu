// CUDA convolutions on cuDNN (NCHW activations with any strides, contiguous OIHW weights, f32 and
// f64) and batch normalisation in our own kernels.
//
// Convolutions: per (pass, shapes, strides, parameters, dtype) the algorithm is chosen once from
// cuDNN's heuristics (cudnnGet*Algorithm_v7: no timing runs, nothing executed, so it is safe
// during CUDA-graph capture) as the first one that is deterministic (two runs give the same
// bits) and accepts the math type, and cached with its workspace size; the workspace comes from
// the caching allocator. Math: CUDNN_FMA_MATH (no tensor-core TF32) unless UNRAVEL_ALLOW_TF32=1.
// Bias (forward) is a broadcast add, its gradient a sum over N, H, W: both our own kernels.
//
// Batch norm: one block per channel reduces in double in a fixed order (deterministic), as the
// CPU computes it (ops/cpu/batch_norm_cpu.cpp); saved statistics are stored in the element type.
#include <cudnn.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

#include "engine/cuda/cuda_backend.h"
#include "ops/cuda/cuda_common.cuh"

namespace unravel {

namespace {

#define UNRAVEL_CUDNN(expr)                                                                    \
  do {                                                                                         \
    cudnnStatus_t unravel_st_ = (expr);                                                        \
    UNRAVEL_CHECK(unravel_st_ == CUDNN_STATUS_SUCCESS, "cuDNN error {} in {} at {}:{}",        \
                  cudnnGetErrorString(unravel_st_), #expr, __FILE__, __LINE__);                \
  } while (0)

bool allow_tf32() {
  static const bool v = [] {
    const char* e = std::getenv("UNRAVEL_ALLOW_TF32");
    return e && std::strcmp(e, "1") == 0;
  }();
  return v;
}

cudnnHandle_t handle_for(int device) {
  static std::mutex mu;
  static cudnnHandle_t handles[16] = {};
  cudaStream_t s = cuda::stream_for(device);
  std::lock_guard<std::mutex> lock(mu);
  if (!handles[device]) UNRAVEL_CUDNN(cudnnCreate(&handles[device]));
  UNRAVEL_CUDNN(cudnnSetStream(handles[device], s));
  return handles[device];
}

cudnnDataType_t cudnn_type(DType t) {
  UNRAVEL_CHECK(t == DType::f32 || t == DType::f64, "conv2d: dtype {} is not supported (f32, f64)",
                dtype_name(t));
  return t == DType::f32 ? CUDNN_DATA_FLOAT : CUDNN_DATA_DOUBLE;
}

/// RAII descriptors of one convolution call.
struct Descs {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  Descs(const TensorView& xv, const TensorView& wv, const TensorView& yv, const Conv2dParams& p,
        const char* fn) {
    const cudnnDataType_t dt = cudnn_type(xv.dtype);
    UNRAVEL_CHECK(xv.rank() == 4 && wv.rank() == 4 && yv.rank() == 4,
                  "{}: want 4-D input, weight and output, got {} {} {}", fn, xv.shape.str(),
                  wv.shape.str(), yv.shape.str());
    UNRAVEL_CHECK(xv.dtype == wv.dtype && xv.dtype == yv.dtype, "{}: dtypes differ", fn);
    UNRAVEL_CHECK(xv.strided() && yv.strided() && wv.contiguous(),
                  "{}: cuDNN takes strided activations and a contiguous weight (weight {} strides {})",
                  fn, wv.shape.str(), wv.strides.str());
    UNRAVEL_CHECK(!p.relu, "{}: the fused activation is not offered on CUDA (supports() says so)", fn);
    UNRAVEL_CHECK(p.groups >= 1 && xv.shape[1] == wv.shape[1] * p.groups,
                  "{}: input {} has {} channels but weight {} with {} groups expects {}", fn,
                  xv.shape.str(), xv.shape[1], wv.shape.str(), p.groups, wv.shape[1] * p.groups);
    for (const TensorView* v : {&xv, &wv, &yv})
      for (int d = 0; d < 4; ++d)
        UNRAVEL_CHECK(v->shape[d] <= INT32_MAX && v->strides[d] <= INT32_MAX,
                      "{}: {} exceeds cuDNN's int range", fn, v->shape.str());
    auto tensor = [&](const TensorView& v, cudnnTensorDescriptor_t& d) {
      UNRAVEL_CUDNN(cudnnCreateTensorDescriptor(&d));
      int dims[4], strides[4];
      for (int i = 0; i < 4; ++i) {
        dims[i] = static_cast<int>(v.shape[i]);
        strides[i] = static_cast<int>(v.strides[i] == 0 ? 1 : v.strides[i]);
      }
      UNRAVEL_CUDNN(cudnnSetTensorNdDescriptor(d, dt, 4, dims, strides));
    };
    tensor(xv, x);
    tensor(yv, y);
    UNRAVEL_CUDNN(cudnnCreateFilterDescriptor(&w));
    UNRAVEL_CUDNN(cudnnSetFilter4dDescriptor(w, dt, CUDNN_TENSOR_NCHW, static_cast<int>(wv.shape[0]),
                                             static_cast<int>(wv.shape[1]), static_cast<int>(wv.shape[2]),
                                             static_cast<int>(wv.shape[3])));
    UNRAVEL_CUDNN(cudnnCreateConvolutionDescriptor(&conv));
    UNRAVEL_CUDNN(cudnnSetConvolution2dDescriptor(
        conv, static_cast<int>(p.pad_h), static_cast<int>(p.pad_w), static_cast<int>(p.stride_h),
        static_cast<int>(p.stride_w), static_cast<int>(p.dilation_h), static_cast<int>(p.dilation_w),
        CUDNN_CROSS_CORRELATION, dt));
    UNRAVEL_CUDNN(cudnnSetConvolutionGroupCount(conv, static_cast<int>(p.groups)));
    UNRAVEL_CUDNN(cudnnSetConvolutionMathType(
        conv, allow_tf32() ? CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION : CUDNN_FMA_MATH));
    int out[4];
    UNRAVEL_CUDNN(cudnnGetConvolutionNdForwardOutputDim(conv, x, w, 4, out));
    for (int i = 0; i < 4; ++i)
      UNRAVEL_CHECK(out[i] == yv.shape[i], "{}: input {} and weight {} give output [{}, {}, {}, {}], "
                    "not {}", fn, xv.shape.str(), wv.shape.str(), out[0], out[1], out[2], out[3],
                    yv.shape.str());
  }
  ~Descs() {
    if (x) cudnnDestroyTensorDescriptor(x);
    if (y) cudnnDestroyTensorDescriptor(y);
    if (w) cudnnDestroyFilterDescriptor(w);
    if (conv) cudnnDestroyConvolutionDescriptor(conv);
  }
  Descs(const Descs&) = delete;
  Descs& operator=(const Descs&) = delete;
};

enum class Pass : int { fwd, bwd_data, bwd_filter };

struct Choice {
  int algo = 0;
  size_t workspace = 0;
};

std::vector<int64_t> key_of(Pass pass, const TensorView& x, const TensorView& w, const TensorView& y,
                            const Conv2dParams& p) {
  std::vector<int64_t> k{static_cast<int64_t>(pass), static_cast<int64_t>(x.dtype), x.device.index,
                         p.stride_h, p.stride_w, p.pad_h, p.pad_w, p.dilation_h, p.dilation_w,
                         p.groups, allow_tf32() ? 1 : 0};
  for (const TensorView* v : {&x, &w, &y})
    for (int d = 0; d < 4; ++d) {
      k.push_back(v->shape[d]);
      k.push_back(v->strides[d]);
    }
  return k;
}

/// The cached algorithm of this call's shapes, chosen on first use.
Choice choose(Pass pass, cudnnHandle_t h, const Descs& d, const std::vector<int64_t>& key,
              const char* fn) {
  static std::mutex mu;
  static std::map<std::vector<int64_t>, Choice> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  constexpr int kMax = 16;
  int returned = 0;
  Choice c;
  bool found = false;
  if (pass == Pass::fwd) {
    cudnnConvolutionFwdAlgoPerf_t perf[kMax];
    UNRAVEL_CUDNN(cudnnGetConvolutionForwardAlgorithm_v7(h, d.x, d.w, d.conv, d.y, kMax, &returned, perf));
    for (int i = 0; i < returned && !found; ++i) {
      if (perf[i].status != CUDNN_STATUS_SUCCESS || perf[i].determinism != CUDNN_DETERMINISTIC) continue;
      size_t ws = 0;
      if (cudnnGetConvolutionForwardWorkspaceSize(h, d.x, d.w, d.conv, d.y, perf[i].algo, &ws) !=
          CUDNN_STATUS_SUCCESS)
        continue;
      c = {static_cast<int>(perf[i].algo), ws};
      found = true;
    }
  } else if (pass == Pass::bwd_data) {
    cudnnConvolutionBwdDataAlgoPerf_t perf[kMax];
    UNRAVEL_CUDNN(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, d.w, d.y, d.conv, d.x, kMax, &returned, perf));
    for (int i = 0; i < returned && !found; ++i) {
      if (perf[i].status != CUDNN_STATUS_SUCCESS || perf[i].determinism != CUDNN_DETERMINISTIC) continue;
      size_t ws = 0;
      if (cudnnGetConvolutionBackwardDataWorkspaceSize(h, d.w, d.y, d.conv, d.x, perf[i].algo, &ws) !=
          CUDNN_STATUS_SUCCESS)
        continue;
      c = {static_cast<int>(perf[i].algo), ws};
      found = true;
    }
  } else {
    cudnnConvolutionBwdFilterAlgoPerf_t perf[kMax];
    UNRAVEL_CUDNN(cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, d.x, d.y, d.conv, d.w, kMax, &returned, perf));
    for (int i = 0; i < returned && !found; ++i) {
      if (perf[i].status != CUDNN_STATUS_SUCCESS || perf[i].determinism != CUDNN_DETERMINISTIC) continue;
      size_t ws = 0;
      if (cudnnGetConvolutionBackwardFilterWorkspaceSize(h, d.x, d.y, d.conv, d.w, perf[i].algo, &ws) !=
          CUDNN_STATUS_SUCCESS)
        continue;
      c = {static_cast<int>(perf[i].algo), ws};
      found = true;
    }
  }
  UNRAVEL_CHECK(found, "{}: cuDNN offers no deterministic algorithm for this convolution", fn);
  cache.emplace(key, c);
  return c;
}

/// A [C] vector viewed as [1, C, 1, 1] broadcast to `like`'s 4-D shape (strides 0 elsewhere).
TensorView channel_broadcast(const TensorView& v, const TensorView& like) {
  TensorView r = v;
  r.shape = like.shape;
  r.strides = Strides{0, v.strides[0], 0, 0};
  return r;
}

// --- batch norm ---------------------------------------------------------------------------------

constexpr int kBnThreads = 256;

/// Offset of element e (0 ≤ e < N·H·W) of channel c in a rank-2 / rank-4 view.
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

/// Sum over the block in a fixed order (every thread gets the result).
__device__ double block_sum(double v, double* shared) {
  shared[threadIdx.x] = v;
  __syncthreads();
  for (int s = kBnThreads / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) shared[threadIdx.x] += shared[threadIdx.x + s];
    __syncthreads();
  }
  const double r = shared[0];
  __syncthreads();
  return r;
}

template <class T>
__device__ double opt(const T* p, int64_t stride, int64_t c, double fallback) {
  return p ? static_cast<double>(p[c * stride]) : fallback;
}

template <class T>
__global__ void bn_forward_kernel(const T* x, ChannelMap xm, T* y, ChannelMap ym, int64_t M,
                                  const T* gamma, int64_t sg, const T* beta, int64_t sb,
                                  const T* mean, int64_t smu, const T* var, int64_t sv, bool training,
                                  double eps, T* save_mean, int64_t ssm, T* save_invstd, int64_t ssi) {
  __shared__ double shared[kBnThreads];
  const int64_t c = blockIdx.x;
  double mu, invstd;
  if (training) {
    double s = 0;
    for (int64_t e = threadIdx.x; e < M; e += kBnThreads) s += static_cast<double>(x[xm.at(c, e)]);
    mu = block_sum(s, shared) / static_cast<double>(M);
    double ss = 0;
    for (int64_t e = threadIdx.x; e < M; e += kBnThreads) {
      const double d = static_cast<double>(x[xm.at(c, e)]) - mu;
      ss += d * d;
    }
    invstd = 1.0 / sqrt(block_sum(ss, shared) / static_cast<double>(M) + eps);
  } else {
    mu = opt(mean, smu, c, 0.0);
    invstd = 1.0 / sqrt(opt(var, sv, c, 1.0) + eps);
  }
  if (threadIdx.x == 0) {
    if (save_mean) save_mean[c * ssm] = static_cast<T>(mu);
    if (save_invstd) save_invstd[c * ssi] = static_cast<T>(invstd);
  }
  const double scale = opt(gamma, sg, c, 1.0) * invstd;
  const double shift = opt(beta, sb, c, 0.0) - mu * scale;
  for (int64_t e = threadIdx.x; e < M; e += kBnThreads)
    y[ym.at(c, e)] = static_cast<T>(static_cast<double>(x[xm.at(c, e)]) * scale + shift);
}

template <class T>
__global__ void bn_backward_kernel(const T* dy, ChannelMap gm, const T* x, ChannelMap xm, int64_t M,
                                   const T* gamma, int64_t sg, const T* save_mean, int64_t ssm,
                                   const T* save_invstd, int64_t ssi, T* dx, ChannelMap dm,
                                   T* dgamma, int64_t sdg, T* dbeta, int64_t sdb) {
  __shared__ double shared[kBnThreads];
  const int64_t c = blockIdx.x;
  const double mu = static_cast<double>(save_mean[c * ssm]), r = static_cast<double>(save_invstd[c * ssi]);
  double s1 = 0, s2 = 0;
  for (int64_t e = threadIdx.x; e < M; e += kBnThreads) {
    const double g = static_cast<double>(dy[gm.at(c, e)]);
    s1 += g;
    s2 += g * (static_cast<double>(x[xm.at(c, e)]) - mu);
  }
  const double sum_dy = block_sum(s1, shared);
  const double dg = block_sum(s2, shared) * r;
  if (threadIdx.x == 0) {
    if (dgamma) dgamma[c * sdg] = static_cast<T>(dg);
    if (dbeta) dbeta[c * sdb] = static_cast<T>(sum_dy);
  }
  if (!dx) return;
  const double k = opt(gamma, sg, c, 1.0) * r, inv_m = 1.0 / static_cast<double>(M);
  for (int64_t e = threadIdx.x; e < M; e += kBnThreads) {
    const double xhat = (static_cast<double>(x[xm.at(c, e)]) - mu) * r;
    dx[dm.at(c, e)] = static_cast<T>(k * (static_cast<double>(dy[gm.at(c, e)]) - sum_dy * inv_m -
                                          xhat * dg * inv_m));
  }
}

void check_channel(const TensorView& v, int64_t C, DType dt, const char* fn, const char* what) {
  if (!v.data) return;
  UNRAVEL_CHECK(v.rank() == 1 && v.shape[0] == C && v.dtype == dt, "{}: {} must be {} [{}], got {} {}",
                fn, what, dtype_name(dt), C, dtype_name(v.dtype), v.shape.str());
}

template <class T> const T* cptr(const TensorView& v) { return static_cast<const T*>(v.data); }
template <class T> T* mptr(const TensorView& v) { return static_cast<T*>(v.data); }
int64_t s0(const TensorView& v) { return v.data ? v.strides[0] : 0; }

}  // namespace

void CudaBackend::conv2d_forward(const TensorView& x, const TensorView& w, const TensorView& b,
                                 const TensorView& y, const Conv2dParams& p) {
  const char* fn = "conv2d_forward";
  if (y.numel() == 0) return;
  Descs d(x, w, y, p, fn);
  cudnnHandle_t h = handle_for(y.device.index);
  const Choice c = choose(Pass::fwd, h, d, key_of(Pass::fwd, x, w, y, p), fn);
  cuda::Scratch ws(c.workspace);
  const float af = 1.0f, bf = 0.0f;
  const double ad = 1.0, bd = 0.0;
  const bool f32 = x.dtype == DType::f32;
  UNRAVEL_CUDNN(cudnnConvolutionForward(h, f32 ? static_cast<const void*>(&af) : &ad, d.x, x.data, d.w,
                                        w.data, d.conv, static_cast<cudnnConvolutionFwdAlgo_t>(c.algo),
                                        ws.get(), c.workspace, f32 ? static_cast<const void*>(&bf) : &bd,
                                        d.y, y.data));
  if (b.data) {
    UNRAVEL_CHECK(b.rank() == 1 && b.shape[0] == y.shape[1] && b.dtype == y.dtype,
                  "{}: bias {} does not match {} output channels", fn, b.shape.str(), y.shape[1]);
    binary(BinaryOp::add, y, channel_broadcast(b, y), y, 0.0);
  }
}

void CudaBackend::conv2d_backward_data(const TensorView& dy, const TensorView& w,
                                       const TensorView& dx, const Conv2dParams& p) {
  const char* fn = "conv2d_backward_data";
  if (dx.numel() == 0) return;
  Conv2dParams q = p;
  q.relu = false;
  if (dy.numel() == 0) return fill(dx, 0.0);
  Descs d(dx, w, dy, q, fn);
  cudnnHandle_t h = handle_for(dx.device.index);
  const Choice c = choose(Pass::bwd_data, h, d, key_of(Pass::bwd_data, dx, w, dy, q), fn);
  cuda::Scratch ws(c.workspace);
  const float af = 1.0f, bf = 0.0f;
  const double ad = 1.0, bd = 0.0;
  const bool f32 = dy.dtype == DType::f32;
  UNRAVEL_CUDNN(cudnnConvolutionBackwardData(
      h, f32 ? static_cast<const void*>(&af) : &ad, d.w, w.data, d.y, dy.data, d.conv,
      static_cast<cudnnConvolutionBwdDataAlgo_t>(c.algo), ws.get(), c.workspace,
      f32 ? static_cast<const void*>(&bf) : &bd, d.x, dx.data));
}

void CudaBackend::conv2d_backward_weights(const TensorView& x, const TensorView& dy,
                                          const TensorView& dw, const TensorView& db,
                                          const Conv2dParams& p) {
  const char* fn = "conv2d_backward_weights";
  Conv2dParams q = p;
  q.relu = false;
  if (db.data) {
    UNRAVEL_CHECK(db.rank() == 1 && db.shape[0] == dy.shape[1] && db.dtype == dy.dtype,
                  "{}: bias gradient {} does not match {} output channels", fn, db.shape.str(),
                  dy.shape[1]);
    TensorView db4 = db;
    db4.shape = Shape{1, db.shape[0], 1, 1};
    db4.strides = Strides{db.shape[0] * db.strides[0], db.strides[0], 1, 1};
    reduce(ReduceOp::sum, dy, db4);
  }
  if (dw.numel() == 0) return;
  if (dy.numel() == 0 || x.numel() == 0) return fill(dw, 0.0);
  Descs d(x, dw, dy, q, fn);
  cudnnHandle_t h = handle_for(dw.device.index);
  const Choice c = choose(Pass::bwd_filter, h, d, key_of(Pass::bwd_filter, x, dw, dy, q), fn);
  cuda::Scratch ws(c.workspace);
  const float af = 1.0f, bf = 0.0f;
  const double ad = 1.0, bd = 0.0;
  const bool f32 = x.dtype == DType::f32;
  UNRAVEL_CUDNN(cudnnConvolutionBackwardFilter(
      h, f32 ? static_cast<const void*>(&af) : &ad, d.x, x.data, d.y, dy.data, d.conv,
      static_cast<cudnnConvolutionBwdFilterAlgo_t>(c.algo), ws.get(), c.workspace,
      f32 ? static_cast<const void*>(&bf) : &bd, d.w, dw.data));
}

void CudaBackend::batch_norm_forward(const TensorView& x, const TensorView& gamma,
                                     const TensorView& beta, const TensorView& mean,
                                     const TensorView& var, bool training, double eps,
                                     const TensorView& y, const TensorView& save_mean,
                                     const TensorView& save_invstd) {
  const char* fn = "batch_norm_forward";
  UNRAVEL_CHECK(x.rank() == 2 || x.rank() == 4, "{}: input must be (N, C) or (N, C, H, W), got {}",
                fn, x.shape.str());
  UNRAVEL_CHECK(y.shape == x.shape && y.dtype == x.dtype, "{}: output {} must match the input {}", fn,
                y.shape.str(), x.shape.str());
  const int64_t C = x.shape[1];
  check_channel(gamma, C, x.dtype, fn, "weight (gamma)");
  check_channel(beta, C, x.dtype, fn, "bias (beta)");
  check_channel(save_mean, C, x.dtype, fn, "save_mean");
  check_channel(save_invstd, C, x.dtype, fn, "save_invstd");
  if (!training) {
    UNRAVEL_CHECK(mean.data && var.data, "{}: eval mode needs running mean and var", fn);
    check_channel(mean, C, x.dtype, fn, "running mean");
    check_channel(var, C, x.dtype, fn, "running var");
  }
  UNRAVEL_CHECK(x.dtype == DType::f32 || x.dtype == DType::f64,
                "{}: dtype {} is not supported (f32, f64)", fn, dtype_name(x.dtype));
  if (C == 0) return;
  const int64_t M = x.numel() / C;
  cudaStream_t s = cuda::stream_of(x);
  const ChannelMap xm = channel_map(x), ym = channel_map(y);
  auto go = [&](auto tag) {
    using T = decltype(tag);
    bn_forward_kernel<T><<<static_cast<unsigned>(C), kBnThreads, 0, s>>>(
        cptr<T>(x), xm, mptr<T>(y), ym, M, cptr<T>(gamma), s0(gamma), cptr<T>(beta), s0(beta),
        cptr<T>(mean), s0(mean), cptr<T>(var), s0(var), training, eps, mptr<T>(save_mean),
        s0(save_mean), mptr<T>(save_invstd), s0(save_invstd));
    UNRAVEL_CUDA_LAUNCH();
  };
  if (x.dtype == DType::f32) go(float{});
  else go(double{});
}

void CudaBackend::batch_norm_backward(const TensorView& dy, const TensorView& x,
                                      const TensorView& gamma, const TensorView& save_mean,
                                      const TensorView& save_invstd, const TensorView& dx,
                                      const TensorView& dgamma, const TensorView& dbeta) {
  const char* fn = "batch_norm_backward";
  UNRAVEL_CHECK(x.rank() == 2 || x.rank() == 4, "{}: input must be (N, C) or (N, C, H, W), got {}",
                fn, x.shape.str());
  UNRAVEL_CHECK(dy.shape == x.shape && dy.dtype == x.dtype, "{}: output gradient {} must match the "
                "input {}", fn, dy.shape.str(), x.shape.str());
  if (dx.data)
    UNRAVEL_CHECK(dx.shape == x.shape && dx.dtype == x.dtype, "{}: input gradient {} must match the "
                  "input {}", fn, dx.shape.str(), x.shape.str());
  const int64_t C = x.shape[1];
  UNRAVEL_CHECK(save_mean.data && save_invstd.data, "{}: needs the saved mean and invstd", fn);
  for (const TensorView* v : {&gamma, &save_mean, &save_invstd, &dgamma, &dbeta})
    check_channel(*v, C, x.dtype, fn, "per-channel tensor");
  UNRAVEL_CHECK(x.dtype == DType::f32 || x.dtype == DType::f64,
                "{}: dtype {} is not supported (f32, f64)", fn, dtype_name(x.dtype));
  if (C == 0) return;
  const int64_t M = x.numel() / C;
  cudaStream_t s = cuda::stream_of(x);
  const ChannelMap xm = channel_map(x), gm = channel_map(dy);
  const ChannelMap dm = dx.data ? channel_map(dx) : xm;
  auto go = [&](auto tag) {
    using T = decltype(tag);
    bn_backward_kernel<T><<<static_cast<unsigned>(C), kBnThreads, 0, s>>>(
        cptr<T>(dy), gm, cptr<T>(x), xm, M, cptr<T>(gamma), s0(gamma), cptr<T>(save_mean),
        s0(save_mean), cptr<T>(save_invstd), s0(save_invstd), mptr<T>(dx), dm, mptr<T>(dgamma),
        s0(dgamma), mptr<T>(dbeta), s0(dbeta));
    UNRAVEL_CUDA_LAUNCH();
  };
  if (x.dtype == DType::f32) go(float{});
  else go(double{});
}

}  // namespace unravel
