// CUDA convolutions on cuDNN (the entry points and bf16 staging: conv.cu; the direct-kernel
// fallback: conv_direct.cu; the shared checks: conv_checks.h).
//
// cuDNN runs on dense NCHW buffers: a view that is not contiguous (a transposed input, a strided
// weight, a gradient view) is copied into dense scratch first, and an output that is not is
// computed densely and copied into the view after. Per (pass, dtype, device, shapes, parameters)
// a list of candidate algorithms is built once from cuDNN's heuristics
// (cudnnGetConvolution*Algorithm_v7: no timing runs, nothing executed, no host synchronisation,
// so it is safe during CUDA-graph capture) — those that report CUDNN_DETERMINISTIC (two runs give
// the same bits), the allowed math type and a workspace within kMaxWorkspace, in cuDNN's order;
// f64 and bf16 also skip the FFT / Winograd transforms (f64 is for references, where the direct
// sum's accuracy matters; bf16 operands would be recomputed) — followed by the algorithms PyTorch
// uses in deterministic mode (forward IMPLICIT_PRECOMP_GEMM / IMPLICIT_GEMM, backward ALGO_1) and
// then any over the workspace cap. A call runs the cached candidate; one that cuDNN refuses (a
// status, returned before anything is queued) moves the cache to the next; when cuDNN refuses
// them all, run_cudnn returns false and the caller runs the direct kernels. Workspaces come from
// the caching allocator (cuda::Scratch).
//
// Math: f32 uses CUDNN_FMA_MATH — plain FMA kernels, no tensor-core TF32 (CUDNN_DEFAULT_MATH
// would allow TF32 on Ampere and later) — and accepts only candidates whose math type is FMA;
// with UNRAVEL_ALLOW_TF32=1 it uses CUDNN_DEFAULT_MATH (TF32 allowed, as PyTorch's allow_tf32;
// CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION, which may down-convert to FP16, is never accepted). f64
// and bf16-rounded operands (exact in TF32) use CUDNN_DEFAULT_MATH.
//
// Timed choice (UNRAVEL_CUDNN_BENCHMARK=1, as PyTorch's cudnn.benchmark): when a convolution's
// plan is made outside a CUDA-graph capture, every candidate is run on the call's own buffers
// (one untimed run, then the best of three between CUDA events; the host waits) and the list is
// reordered fastest first (stable, so ties keep cuDNN's order). Only the candidates above take
// part, so the choice stays deterministic in the bits of a run but may differ between runs, GPUs
// and loads: off by default. A plan first made during capture keeps the heuristic order.
//
// Environment: UNRAVEL_CONV_VERBOSE=1 prints each convolution's choice once to stderr (with
// UNRAVEL_CUDNN_BENCHMARK=1, every candidate's time); UNRAVEL_CUDA_CONV=direct skips cuDNN (the
// direct kernels only), for diagnosis.

#include <cudnn.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "engine/cuda/cuda_backend.h"
#include "ops/cuda/conv_geometry.cuh"
#include "ops/cuda/cuda_common.cuh"

namespace unravel {

namespace {

using cuda_conv::Geom;
using cuda_conv::Pass;
using cuda_conv::pass_name;

#define UNRAVEL_CUDNN(expr)                                                                   \
  do {                                                                                        \
    const cudnnStatus_t unravel_cudnn_st_ = (expr);                                           \
    UNRAVEL_CHECK(unravel_cudnn_st_ == CUDNN_STATUS_SUCCESS, "cuDNN error {} in {} at {}:{}", \
                  cudnnGetErrorString(unravel_cudnn_st_), #expr, __FILE__, __LINE__);         \
  } while (0)

constexpr int kMaxDevices = 16;
/// Candidates needing more workspace than this go after the small-workspace ones.
constexpr size_t kMaxWorkspace = size_t{1} << 30;

bool env_is(const char* name, const char* value) {
  const char* e = std::getenv(name);
  return e != nullptr && std::strcmp(e, value) == 0;
}
bool allow_tf32() {
  static const bool v = env_is("UNRAVEL_ALLOW_TF32", "1");
  return v;
}
bool verbose() {
  static const bool v = env_is("UNRAVEL_CONV_VERBOSE", "1");
  return v;
}
bool force_direct() {
  static const bool v = env_is("UNRAVEL_CUDA_CONV", "direct");
  return v;
}
bool timed_choice() {
  static const bool v = env_is("UNRAVEL_CUDNN_BENCHMARK", "1");
  return v;
}

/// The device's cuDNN handle, bound to its stream (makes the device current).
cudnnHandle_t handle_for(int device) {
  static std::mutex mu;
  static cudnnHandle_t handles[kMaxDevices] = {};
  cudaStream_t s = cuda::stream_for(device);  // checks the index, sets the device
  std::lock_guard<std::mutex> lock(mu);
  if (handles[device] == nullptr) UNRAVEL_CUDNN(cudnnCreate(&handles[device]));
  UNRAVEL_CUDNN(cudnnSetStream(handles[device], s));
  return handles[device];
}

// --- cuDNN --------------------------------------------------------------------------------------

cudnnDataType_t cudnn_type(DType t) {
  return t == DType::f32 ? CUDNN_DATA_FLOAT : CUDNN_DATA_DOUBLE;
}

/// The math type set on the convolution descriptor (see the file comment); `bf16`: the
/// operands are bf16-rounded f32 (exact in TF32).
cudnnMathType_t base_math(DType t, bool bf16) {
  return t == DType::f32 && !allow_tf32() && !bf16 ? CUDNN_FMA_MATH : CUDNN_DEFAULT_MATH;
}
/// Whether a candidate's math type keeps the precision promised.
bool math_ok(DType t, bool bf16, cudnnMathType_t m) {
  if (m == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION) return false;
  if (t == DType::f32 && !allow_tf32() && !bf16) return m == CUDNN_FMA_MATH;
  return true;
}

const char* math_name(cudnnMathType_t m) {
  switch (m) {
    case CUDNN_DEFAULT_MATH: return "DEFAULT";
    case CUDNN_TENSOR_OP_MATH: return "TENSOR_OP";
    case CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION: return "TENSOR_OP_ALLOW_CONVERSION";
    case CUDNN_FMA_MATH: return "FMA";
  }
  return "?";
}

/// Descriptors of one call: dense NCHW x / y, NCHW (OIHW) filter, the convolution.
struct Descs {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  Descs(const Geom& g, DType t, bool bf16) {
    try {
      set(g, t, bf16);
    } catch (...) {
      destroy();
      throw;
    }
  }
  ~Descs() { destroy(); }
  Descs(const Descs&) = delete;
  Descs& operator=(const Descs&) = delete;

 private:
  void set(const Geom& g, DType t, bool bf16) {
    const cudnnDataType_t dt = cudnn_type(t);
    auto i32 = [](int64_t v) { return static_cast<int>(v); };
    UNRAVEL_CUDNN(cudnnCreateTensorDescriptor(&x));
    UNRAVEL_CUDNN(cudnnSetTensor4dDescriptor(x, CUDNN_TENSOR_NCHW, dt, i32(g.n), i32(g.c), i32(g.h),
                                             i32(g.w)));
    UNRAVEL_CUDNN(cudnnCreateTensorDescriptor(&y));
    UNRAVEL_CUDNN(cudnnSetTensor4dDescriptor(y, CUDNN_TENSOR_NCHW, dt, i32(g.n), i32(g.o),
                                             i32(g.oh), i32(g.ow)));
    UNRAVEL_CUDNN(cudnnCreateFilterDescriptor(&w));
    UNRAVEL_CUDNN(cudnnSetFilter4dDescriptor(w, dt, CUDNN_TENSOR_NCHW, i32(g.o), i32(g.cg),
                                             i32(g.kh), i32(g.kw)));
    UNRAVEL_CUDNN(cudnnCreateConvolutionDescriptor(&conv));
    UNRAVEL_CUDNN(cudnnSetConvolution2dDescriptor(conv, i32(g.ph), i32(g.pw), i32(g.sh), i32(g.sw),
                                                  i32(g.dh), i32(g.dw), CUDNN_CROSS_CORRELATION,
                                                  dt));
    UNRAVEL_CUDNN(cudnnSetConvolutionGroupCount(conv, i32(g.groups)));
    UNRAVEL_CUDNN(cudnnSetConvolutionMathType(conv, base_math(t, bf16)));
  }
  void destroy() {
    if (conv) cudnnDestroyConvolutionDescriptor(conv);
    if (w) cudnnDestroyFilterDescriptor(w);
    if (y) cudnnDestroyTensorDescriptor(y);
    if (x) cudnnDestroyTensorDescriptor(x);
    conv = nullptr, w = nullptr, y = nullptr, x = nullptr;
  }
};

/// One way to run a pass: algorithm (of the pass's enum), math type and workspace bytes.
struct Candidate {
  int algo = 0;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
  size_t workspace = 0;
};

/// The cached plan of one convolution: candidates in order of preference and the one in use;
/// direct once cuDNN has refused them all (or none exists).
struct Plan {
  std::vector<Candidate> cands;
  size_t pos = 0;
  bool direct = false;
  bool reported = false;
};

bool transform_algo(Pass pass, int algo) {
  switch (pass) {
    case Pass::fwd:
      return algo == CUDNN_CONVOLUTION_FWD_ALGO_FFT ||
             algo == CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING ||
             algo == CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD ||
             algo == CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED;
    case Pass::bwd_data:
      return algo == CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT ||
             algo == CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING ||
             algo == CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD ||
             algo == CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD_NONFUSED;
    default:
      return algo == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT ||
             algo == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT_TILING ||
             algo == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD ||
             algo == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD_NONFUSED;
  }
}

/// Workspace bytes of `algo` under math type `math` (sets it on d.conv); false when refused.
bool workspace_of(Pass pass, cudnnHandle_t h, const Descs& d, int algo, cudnnMathType_t math,
                  size_t* bytes) {
  if (cudnnSetConvolutionMathType(d.conv, math) != CUDNN_STATUS_SUCCESS) return false;
  cudnnStatus_t st;
  switch (pass) {
    case Pass::fwd:
      st = cudnnGetConvolutionForwardWorkspaceSize(
          h, d.x, d.w, d.conv, d.y, static_cast<cudnnConvolutionFwdAlgo_t>(algo), bytes);
      break;
    case Pass::bwd_data:
      st = cudnnGetConvolutionBackwardDataWorkspaceSize(
          h, d.w, d.y, d.conv, d.x, static_cast<cudnnConvolutionBwdDataAlgo_t>(algo), bytes);
      break;
    default:
      st = cudnnGetConvolutionBackwardFilterWorkspaceSize(
          h, d.x, d.y, d.conv, d.w, static_cast<cudnnConvolutionBwdFilterAlgo_t>(algo), bytes);
      break;
  }
  return st == CUDNN_STATUS_SUCCESS;
}

/// The heuristic results of one pass as (algo, status, determinism, math) rows.
struct Heuristic {
  int algo;
  cudnnStatus_t status;
  cudnnDeterminism_t determinism;
  cudnnMathType_t math;
};

template <class Perf> void collect(const Perf* perf, int n, std::vector<Heuristic>* out) {
  for (int i = 0; i < n; ++i)
    out->push_back(
        {static_cast<int>(perf[i].algo), perf[i].status, perf[i].determinism, perf[i].mathType});
}

std::vector<Heuristic> heuristics(Pass pass, cudnnHandle_t h, const Descs& d) {
  std::vector<Heuristic> out;
  int n = 0;
  if (pass == Pass::fwd) {
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    if (cudnnGetConvolutionForwardAlgorithm_v7(h, d.x, d.w, d.conv, d.y,
                                               CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n,
                                               perf) == CUDNN_STATUS_SUCCESS)
      collect(perf, n, &out);
  } else if (pass == Pass::bwd_data) {
    cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    if (cudnnGetConvolutionBackwardDataAlgorithm_v7(h, d.w, d.y, d.conv, d.x,
                                                    CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n,
                                                    perf) == CUDNN_STATUS_SUCCESS)
      collect(perf, n, &out);
  } else {
    cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    if (cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, d.x, d.y, d.conv, d.w,
                                                      CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n,
                                                      perf) == CUDNN_STATUS_SUCCESS)
      collect(perf, n, &out);
  }
  return out;
}

/// The candidate list of one convolution (see the file comment). Leaves d.conv's math type set
/// to an arbitrary candidate's: run_cudnn() sets the one it uses.
std::vector<Candidate> candidates(Pass pass, cudnnHandle_t h, const Descs& d, DType t,
                                  bool bf16) {
  std::vector<Candidate> small, large;
  auto known = [&](int algo, cudnnMathType_t math) {
    for (const auto* v : {&small, &large})
      for (const Candidate& c : *v)
        if (c.algo == algo && c.math == math) return true;
    return false;
  };
  for (const Heuristic& r : heuristics(pass, h, d)) {
    if (r.status != CUDNN_STATUS_SUCCESS || r.determinism != CUDNN_DETERMINISTIC ||
        !math_ok(t, bf16, r.math) ||
        ((t == DType::f64 || bf16) && transform_algo(pass, r.algo)) ||
        known(r.algo, r.math))
      continue;
    size_t ws = 0;
    if (!workspace_of(pass, h, d, r.algo, r.math, &ws)) continue;
    (ws <= kMaxWorkspace ? small : large).push_back({r.algo, r.math, ws});
  }
  // PyTorch's deterministic-mode algorithms: implicit GEMM forward, ALGO_1 backward.
  std::vector<int> defaults;
  if (pass == Pass::fwd)
    defaults = {CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM,
                CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM};
  else if (pass == Pass::bwd_data)
    defaults = {CUDNN_CONVOLUTION_BWD_DATA_ALGO_1};
  else
    defaults = {CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1};
  const cudnnMathType_t math = base_math(t, bf16);
  for (int algo : defaults) {
    size_t ws = 0;
    if (known(algo, math) || !workspace_of(pass, h, d, algo, math, &ws)) continue;
    small.push_back({algo, math, ws});
  }
  small.insert(small.end(), large.begin(), large.end());
  return small;
}

std::vector<int64_t> plan_key(Pass pass, DType t, bool bf16, int device, const Geom& g) {
  return {static_cast<int64_t>(pass),
          static_cast<int64_t>(t),
          device,
          allow_tf32() ? 1 : 0,
          bf16 ? 1 : 0,
          g.n,
          g.c,
          g.h,
          g.w,
          g.o,
          g.cg,
          g.kh,
          g.kw,
          g.oh,
          g.ow,
          g.sh,
          g.sw,
          g.ph,
          g.pw,
          g.dh,
          g.dw,
          g.groups};
}

std::string geom_str(const Geom& g, DType t) {
  return UNRAVEL_FORMAT(
      "{} x [{}, {}, {}, {}] w [{}, {}, {}, {}] y [{}, {}, {}, {}] stride ({}, {}) "
      "pad ({}, {}) dilation ({}, {}) groups {}",
      dtype_name(t), g.n, g.c, g.h, g.w, g.o, g.cg, g.kh, g.kw, g.n, g.o, g.oh, g.ow, g.sh, g.sw,
      g.ph, g.pw, g.dh, g.dw, g.groups);
}

std::mutex g_plan_mu;
std::map<std::vector<int64_t>, Plan>& plans() {
  static auto* m = new std::map<std::vector<int64_t>, Plan>();  // never destroyed (exit order)
  return *m;
}

/// A dense stand-in for a view: the view itself when contiguous, else dense scratch (filled from
/// the view for an input; written back to it by store() for an output).
class Dense {
 public:
  Dense(CudaBackend& be, const TensorView& v, bool input) : be_(be), orig_(v), view_(v) {
    if (v.contiguous()) return;
    scratch_.emplace(static_cast<size_t>(v.numel()) * size_of(v.dtype));
    view_.data = scratch_->get();
    view_.strides = contiguous_strides(v.shape);
    if (input) be_.copy(orig_, view_);
  }
  void* data() const { return view_.data; }
  void store() {
    if (scratch_) be_.copy(view_, orig_);
  }

 private:
  CudaBackend& be_;
  TensorView orig_, view_;
  std::optional<cuda::Scratch> scratch_;
};

/// Queues candidate `c` of `pass` on the handle's stream: a = the pass's first input, b = its
/// second, y = its output (see run_cudnn); sets c's math type on d.conv first. A status other
/// than success means nothing was queued.
cudnnStatus_t launch(Pass pass, cudnnHandle_t h, const Descs& d, const Candidate& c,
                     const void* a, const void* b, void* y, void* ws, const void* one,
                     const void* zero) {
  cudnnStatus_t st = cudnnSetConvolutionMathType(d.conv, c.math);
  if (st != CUDNN_STATUS_SUCCESS) return st;
  switch (pass) {
    case Pass::fwd:
      return cudnnConvolutionForward(h, one, d.x, a, d.w, b, d.conv,
                                     static_cast<cudnnConvolutionFwdAlgo_t>(c.algo), ws,
                                     c.workspace, zero, d.y, y);
    case Pass::bwd_data:
      return cudnnConvolutionBackwardData(h, one, d.w, b, d.y, a, d.conv,
                                          static_cast<cudnnConvolutionBwdDataAlgo_t>(c.algo), ws,
                                          c.workspace, zero, d.x, y);
    default:
      return cudnnConvolutionBackwardFilter(h, one, d.x, a, d.y, b, d.conv,
                                            static_cast<cudnnConvolutionBwdFilterAlgo_t>(c.algo),
                                            ws, c.workspace, zero, d.w, y);
  }
}

/// Whether `s` is being captured into a CUDA graph (a timing run would be recorded, not run,
/// and waiting on an event is illegal there).
bool capturing(cudaStream_t s) {
  cudaStreamCaptureStatus st = cudaStreamCaptureStatusNone;
  return cudaStreamIsCapturing(s, &st) == cudaSuccess && st != cudaStreamCaptureStatusNone;
}

/// UNRAVEL_CUDNN_BENCHMARK=1: times every candidate of a fresh plan on the call's buffers and
/// reorders plan->cands fastest first (stable; one refused, one whose workspace cannot be had,
/// and one over the workspace cap go last, untimed). The timing runs overwrite the output
/// buffer (every pass writes it with beta = 0, so the run that follows gives the same result).
void time_candidates(Pass pass, cudnnHandle_t h, const Descs& d, const void* a, const void* b,
                     void* y, const void* one, const void* zero, int device, Plan* plan,
                     std::string* report) {
  cudaStream_t s = cuda::stream_for(device);
  if (plan->cands.size() < 2 || capturing(s)) return;
  struct Events {  // destroyed on every way out
    cudaEvent_t start = nullptr, stop = nullptr;
    ~Events() {
      if (start) cudaEventDestroy(start);
      if (stop) cudaEventDestroy(stop);
    }
  } ev;
  UNRAVEL_CUDA(cudaEventCreate(&ev.start));
  UNRAVEL_CUDA(cudaEventCreate(&ev.stop));
  const cudaEvent_t start = ev.start, stop = ev.stop;
  std::vector<float> ms(plan->cands.size(), std::numeric_limits<float>::infinity());
  for (size_t i = 0; i < plan->cands.size(); ++i) {
    const Candidate& c = plan->cands[i];
    // The over-cap ones stay last, untimed: their workspaces would stay cached in the allocator
    // for the rest of the run (each its own size class) and crowd out later allocations.
    if (c.workspace > kMaxWorkspace) continue;
    std::optional<cuda::Scratch> ws;
    try {
      ws.emplace(c.workspace);
    } catch (const std::exception&) {
      continue;
    }
    if (launch(pass, h, d, c, a, b, y, ws->get(), one, zero) != CUDNN_STATUS_SUCCESS) {
      (void)cudaGetLastError();
      continue;
    }
    for (int rep = 0; rep < 3; ++rep) {
      UNRAVEL_CUDA(cudaEventRecord(start, s));
      const cudnnStatus_t st = launch(pass, h, d, c, a, b, y, ws->get(), one, zero);
      UNRAVEL_CUDA(cudaEventRecord(stop, s));
      UNRAVEL_CUDA(cudaEventSynchronize(stop));
      float t = 0;
      UNRAVEL_CUDA(cudaEventElapsedTime(&t, start, stop));
      if (st == CUDNN_STATUS_SUCCESS) ms[i] = std::min(ms[i], t);
    }
  }
  std::vector<size_t> order(ms.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t z) { return ms[x] < ms[z]; });
  std::vector<Candidate> sorted;
  for (size_t i : order) {
    sorted.push_back(plan->cands[i]);
    *report += UNRAVEL_FORMAT(" algo {} {} {:.3f} ms;", plan->cands[i].algo,
                              math_name(plan->cands[i].math), ms[i]);
  }
  plan->cands = std::move(sorted);
}

}  // namespace

namespace cuda_conv {

/// Runs `pass` on cuDNN: in = the two inputs, out = the output, all in the pass's own roles
/// (fwd: x, w → y; bwd_data: dy, w → dx; bwd_filter: x, dy → dw); `bf16`: the inputs hold
/// bf16-rounded values (TF32 tensor-core math allowed). False when the convolution is to run in
/// the direct kernels instead (nothing has been written then).
bool run_cudnn(CudaBackend& be, Pass pass, const Geom& g, const TensorView& in0,
               const TensorView& in1, const TensorView& out, bool bf16) {
  const DType t = out.dtype;
  const int device = out.device.index;
  cudnnHandle_t h = handle_for(device);
  Descs d(g, t, bf16);
  std::lock_guard<std::mutex> lock(g_plan_mu);
  auto [it, fresh] = plans().try_emplace(plan_key(pass, t, bf16, device, g));
  Plan& plan = it->second;
  if (fresh) {
    plan.cands = candidates(pass, h, d, t, bf16);
    plan.direct = plan.cands.empty();
  }
  if (plan.direct) {
    if (verbose() && !plan.reported) {
      plan.reported = true;
      std::fprintf(stderr,
                   "unravel cuda: %s %s: direct kernels (cuDNN offers no usable algorithm)\n",
                   pass_name(pass), geom_str(g, t).c_str());
    }
    return false;
  }
  Dense a(be, in0, true), b(be, in1, true), y(be, out, false);
  const float one_f = 1.0f, zero_f = 0.0f;
  const double one_d = 1.0, zero_d = 0.0;
  const void* one = t == DType::f32 ? static_cast<const void*>(&one_f) : &one_d;
  const void* zero = t == DType::f32 ? static_cast<const void*>(&zero_f) : &zero_d;
  std::string refused, timed;
  if (fresh && timed_choice())
    time_candidates(pass, h, d, a.data(), b.data(), y.data(), one, zero, device, &plan, &timed);
  for (; plan.pos < plan.cands.size(); ++plan.pos) {
    const Candidate& c = plan.cands[plan.pos];
    std::optional<cuda::Scratch> ws;
    try {
      ws.emplace(c.workspace);
    } catch (const std::exception& e) {  // out of memory for this one's workspace: try the next
      refused += UNRAVEL_FORMAT(" algo {}: workspace {} bytes: {};", c.algo, c.workspace, e.what());
      continue;
    }
    const cudnnStatus_t st =
        launch(pass, h, d, c, a.data(), b.data(), y.data(), ws->get(), one, zero);
    if (st == CUDNN_STATUS_SUCCESS) {
      if (verbose() && !plan.reported) {
        plan.reported = true;
        std::fprintf(stderr,
                     "unravel cuda: %s %s: cuDNN algo %d, math %s, workspace %zu bytes%s%s%s\n",
                     pass_name(pass), geom_str(g, t).c_str(), c.algo, math_name(c.math),
                     c.workspace, refused.c_str(), timed.empty() ? "" : "; timed:", timed.c_str());
      }
      y.store();
      return true;
    }
    refused += UNRAVEL_FORMAT(" algo {} refused: {};", c.algo, cudnnGetErrorString(st));
    // A refusal leaves nothing queued; drop a non-sticky launch error it may have left, so the
    // next kernel's check does not report it. (A sticky error persists and is reported there.)
    (void)cudaGetLastError();
  }
  plan.direct = true;
  if (verbose()) {
    plan.reported = true;
    std::fprintf(stderr, "unravel cuda: %s %s: direct kernels (cuDNN refused every candidate:%s)\n",
                 pass_name(pass), geom_str(g, t).c_str(), refused.c_str());
  }
  return false;
}

/// Whether cuDNN may take this convolution at all (else the direct kernels do).
bool cudnn_fits(const Geom& g, const TensorView& x, const TensorView& w, const TensorView& y) {
  if (force_direct()) return false;
  for (const TensorView* v : {&x, &w, &y})
    if (v->numel() > INT_MAX) return false;
  for (int64_t v : {g.ph, g.pw, g.sh, g.sw, g.dh, g.dw, g.groups})
    if (v > INT_MAX) return false;
  return true;
}

}  // namespace cuda_conv

}  // namespace unravel
