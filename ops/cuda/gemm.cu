// CUDA GEMM on cuBLAS: C[b] = alpha·op(A[b])·op(B[b]) + beta·C[b] over rank-3 views whose
// matrices have a unit stride in one of their two dimensions (any leading dimension), batch
// stride 0 for a broadcast operand — the CPU's contract (ops/cpu/gemm_cpu.cpp), same messages.
//
// cuBLAS is column-major. Every operand is a logical rows × cols matrix with element (i, j) at
// i·r + j·c; with r == 1 it is a column-major matrix (op N, ld = c), with c == 1 the transpose of
// one (op T, ld = r). C itself must be one of the two: column-major C is computed directly as
// D = op(A)·op(B); row-major C (the usual case) as its transpose D = Cᵀ = op(B)ᵀ·op(A)ᵀ, which is
// column-major with ld = C's row stride. No operand is ever copied. One strided-batched call
// covers the batch (stride 0 broadcasts A or B).
//
// One cuBLAS handle per device, created lazily, bound to that device's stream before each call,
// with a fixed workspace of its own (so graph capture never allocates inside cuBLAS and results
// do not depend on a pool: cuBLAS is bitwise reproducible for a given GPU, stream and workspace).
// Pointer mode host. Math: CUBLAS_DEFAULT_MATH (f32 products keep full f32 precision: no TF32)
// unless UNRAVEL_ALLOW_TF32=1, which selects CUBLAS_TF32_TENSOR_OP_MATH.
//
// Precision::bf16 (mixed precision, as on the CPU): A and B are rounded to bf16 by a converting
// copy into dense bf16 scratch (engine/bf16.h's round-to-nearest-even, the CPU's rounding), and
// cublasGemmStridedBatchedEx multiplies them on the tensor cores with f32 accumulation
// (CUBLAS_COMPUTE_32F) into the f32 C. Unlike the CPU, which keeps products under 2^20
// multiply-adds in f32 (a speed rule of its own), every f32 product runs in bf16 here.
#include <cublas_v2.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <tuple>

#include "engine/cuda/cuda_backend.h"
#include "ops/cuda/cuda_common.cuh"
#include "ops/kernel_checks.h"

namespace unravel {

namespace {

/// Throws with the status name (CUBLAS_STATUS_...), its description, the call and the place.
#define UNRAVEL_CUBLAS(expr)                                                                 \
  do {                                                                                       \
    const cublasStatus_t unravel_cublas_st_ = (expr);                                        \
    UNRAVEL_CHECK(unravel_cublas_st_ == CUBLAS_STATUS_SUCCESS,                               \
                  "cuBLAS error {} ({}) in {} at {}:{}", cublasGetStatusName(unravel_cublas_st_), \
                  cublasGetStatusString(unravel_cublas_st_), #expr, __FILE__, __LINE__);     \
  } while (0)

constexpr int kMaxDevices = 16;
/// The per-handle workspace (NVIDIA recommends 32 MiB on Hopper; ample for earlier GPUs).
constexpr size_t kWorkspaceBytes = size_t{32} << 20;

bool allow_tf32() {
  static const bool v = [] {
    const char* e = std::getenv("UNRAVEL_ALLOW_TF32");
    return e != nullptr && std::strcmp(e, "1") == 0;
  }();
  return v;
}

/// The device's cuBLAS handle, bound to its stream and workspace (makes the device current).
cublasHandle_t handle_for(int device) {
  static std::mutex mu;
  static cublasHandle_t handles[kMaxDevices] = {};
  static void* workspaces[kMaxDevices] = {};
  cudaStream_t s = cuda::stream_for(device);  // checks the index, sets the device
  std::lock_guard<std::mutex> lock(mu);
  if (handles[device] == nullptr) {
    // Plain cudaMalloc rather than the caching allocator: the first GEMM may run while a CUDA
    // graph is being recorded into a private pool, which must not own this buffer.
    if (workspaces[device] == nullptr)
      UNRAVEL_CUDA(cudaMalloc(&workspaces[device], kWorkspaceBytes));
    cublasHandle_t h = nullptr;
    UNRAVEL_CUBLAS(cublasCreate(&h));
    UNRAVEL_CUBLAS(cublasSetPointerMode(h, CUBLAS_POINTER_MODE_HOST));
    UNRAVEL_CUBLAS(cublasSetMathMode(h, allow_tf32() ? CUBLAS_TF32_TENSOR_OP_MATH
                                                     : CUBLAS_DEFAULT_MATH));
    handles[device] = h;  // kept for the process's life, like the streams
  }
  // cublasSetStream resets the workspace to cuBLAS's default pool, so set ours after it.
  UNRAVEL_CUBLAS(cublasSetStream(handles[device], s));
  UNRAVEL_CUBLAS(cublasSetWorkspace(handles[device], workspaces[device], kWorkspaceBytes));
  return handles[device];
}

/// How cuBLAS sees one operand: op(stored column-major matrix with leading dimension ld).
struct Operand {
  cublasOperation_t op = CUBLAS_OP_N;
  int64_t ld = 1;
};

/// A rows × cols matrix with element (i, j) at i·r + j·c as a cuBLAS operand: column-major
/// (op N, ld = c ≥ rows) when r == 1, else the transpose of a column-major cols × rows matrix
/// (op T, ld = r ≥ cols) when c == 1. Size-1 dimensions take any stride (their ld is then the
/// other extent). False when neither holds. rows, cols ≥ 1.
bool as_operand(int64_t rows, int64_t cols, int64_t r, int64_t c, Operand* out) {
  if (rows == 1) r = 1;
  if (cols == 1) c = 1;
  if (r == 1) {
    const int64_t ld = cols == 1 ? rows : c;
    if (ld >= rows) {
      *out = {CUBLAS_OP_N, ld};
      return true;
    }
  }
  if (c == 1) {
    const int64_t ld = rows == 1 ? cols : r;
    if (ld >= cols) {
      *out = {CUBLAS_OP_T, ld};
      return true;
    }
  }
  return false;
}

/// One strided-batched column-major call D[b] = alpha·op(P[b])·op(Q[b]) + beta·D[b], D p × q.
struct GemmPlan {
  int64_t p = 0, q = 0, k = 0, batch = 0;
  const void* P = nullptr;
  const void* Q = nullptr;
  void* D = nullptr;
  Operand oP, oQ;
  int64_t ldD = 1;
  int64_t sP = 0, sQ = 0, sD = 0;  // batch strides (elements)
};

/// Checks one operand the way the CPU does (a unit stride in one matrix dimension).
void check_operand(const TensorView& v, const char* which) {
  Operand o;
  const int64_t rows = std::max<int64_t>(v.shape[1], 1), cols = std::max<int64_t>(v.shape[2], 1);
  UNRAVEL_CHECK(as_operand(rows, cols, v.strides[1], v.strides[2], &o),
                "gemm: {} {} with strides {} has no unit stride in its matrix dims; make it "
                "contiguous first",
                which, v.shape.str(), v.strides.str());
}

/// The cuBLAS call for C = alpha·op(A)·op(B) + beta·C with m, n, k ≥ 1 (operands checked).
GemmPlan plan_gemm(bool trans_a, bool trans_b, const TensorView& a, const TensorView& b,
                   const TensorView& c, int64_t k) {
  GemmPlan g;
  const int64_t m = c.shape[1], n = c.shape[2];
  g.k = k;
  g.batch = c.shape[0];
  // op(A): m × k with element (i, l) at i·ra + l·ca; op(B): k × n at l·rb + j·cb; C: m × n.
  const int64_t ra = trans_a ? a.strides[2] : a.strides[1];
  const int64_t ca = trans_a ? a.strides[1] : a.strides[2];
  const int64_t rb = trans_b ? b.strides[2] : b.strides[1];
  const int64_t cb = trans_b ? b.strides[1] : b.strides[2];
  const int64_t sa = a.shape[0] == 1 ? 0 : a.strides[0], sb = b.shape[0] == 1 ? 0 : b.strides[0];
  Operand oc;
  UNRAVEL_CHECK(as_operand(m, n, c.strides[1], c.strides[2], &oc),
                "gemm: {} {} with strides {} has no unit stride in its matrix dims; make it "
                "contiguous first",
                "C", c.shape.str(), c.strides.str());
  g.D = c.data;
  g.ldD = oc.ld;
  g.sD = c.strides[0];
  bool ok;
  if (oc.op == CUBLAS_OP_T) {
    // C row-major: D = Cᵀ (n × m, column-major, ld = C's row stride) = op(B)ᵀ·op(A)ᵀ with
    // op(B)ᵀ n × k at j·cb + l·rb and op(A)ᵀ k × m at l·ca + i·ra.
    g.p = n;
    g.q = m;
    g.P = b.data;
    g.Q = a.data;
    g.sP = sb;
    g.sQ = sa;
    ok = as_operand(n, k, cb, rb, &g.oP) && as_operand(k, m, ca, ra, &g.oQ);
  } else {
    // C column-major: D = C = op(A)·op(B).
    g.p = m;
    g.q = n;
    g.P = a.data;
    g.Q = b.data;
    g.sP = sa;
    g.sQ = sb;
    ok = as_operand(m, k, ra, ca, &g.oP) && as_operand(k, n, rb, cb, &g.oQ);
  }
  // Unreachable after check_operand (the rule is symmetric under transposition); kept as a guard.
  UNRAVEL_CHECK(ok, "gemm: A {} strides {}, B {} strides {}: no cuBLAS layout for these operands",
                a.shape.str(), a.strides.str(), b.shape.str(), b.strides.str());
  return g;
}

}  // namespace

void CudaBackend::gemm(bool trans_a, bool trans_b, double alpha, const TensorView& a,
                       const TensorView& b, double beta, const TensorView& c, Precision precision) {
  UNRAVEL_CUDA_TIMED("gemm", c.device.index);
  const checks::GemmDims dims = checks::gemm(trans_a, trans_b, a, b, c);
  const bool bf16 = precision == Precision::bf16;
  UNRAVEL_CHECK(!bf16 || c.dtype == DType::f32,
                "gemm: bf16 precision applies to f32 products, got {}", dtype_name(c.dtype));
  UNRAVEL_CHECK(a.strided() && b.strided() && c.strided(),
                "gemm: the CUDA backend takes strided tensors only");
  UNRAVEL_CHECK(a.device == c.device && b.device == c.device,
                "gemm: operands on different devices (A {}, B {}, C {})", a.device.str(),
                b.device.str(), c.device.str());
  const int64_t m = dims.m, n = dims.n, ka = dims.k;
  const int64_t batch = c.shape[0], k = ka;
  if (batch == 0 || m == 0 || n == 0) return;
  if (k == 0) {  // an empty sum: C = beta·C (0 when beta is 0, even over NaN, as on the CPU)
    if (beta == 0.0) fill(c, 0.0);
    else if (beta != 1.0) unary(UnaryOp::scale, c, c, beta);
    return;
  }
  UNRAVEL_CHECK(a.shape[0] == batch || a.shape[0] == 1,
                "gemm: {} batch {} does not match the output batch {}", "A", a.shape[0], batch);
  UNRAVEL_CHECK(b.shape[0] == batch || b.shape[0] == 1,
                "gemm: {} batch {} does not match the output batch {}", "B", b.shape[0], batch);
  UNRAVEL_CHECK(batch == 1 || c.strides[0] != 0,
                "gemm: output C {} has batch stride 0; each batch entry needs its own matrix",
                c.shape.str());
  check_operand(a, "A");
  check_operand(b, "B");
  // bf16: dense bf16 copies of A and B (same logical shapes, so a broadcast batch stays one
  // matrix); the plan then reads their contiguous strides.
  std::optional<cuda::Scratch> a16, b16;
  TensorView av = a, bv = b;
  if (bf16) {
    cuda::stream_for(c.device.index);  // the scratch is allocated on the current device
    for (auto [src, dst, hold] : {std::tuple{&a, &av, &a16}, std::tuple{&b, &bv, &b16}}) {
      hold->emplace(static_cast<size_t>(src->numel()) * size_of(DType::bf16));
      dst->data = (*hold)->get();
      dst->dtype = DType::bf16;
      dst->strides = contiguous_strides(src->shape);
      copy(*src, *dst);
    }
  }
  const GemmPlan g = plan_gemm(trans_a, trans_b, av, bv, c, k);
  for (int64_t v : {g.p, g.q, g.k, g.oP.ld, g.oQ.ld, g.ldD, g.batch})
    UNRAVEL_CHECK(v <= INT_MAX, "gemm: A {} B {} C {}: a dimension or leading dimension ({}) "
                  "exceeds cuBLAS's int range", a.shape.str(), b.shape.str(), c.shape.str(), v);
  cublasHandle_t h = handle_for(c.device.index);
  const int p = static_cast<int>(g.p), q = static_cast<int>(g.q), kk = static_cast<int>(g.k);
  const int ldp = static_cast<int>(g.oP.ld), ldq = static_cast<int>(g.oQ.ld);
  const int ldd = static_cast<int>(g.ldD), nb = static_cast<int>(g.batch);
  if (bf16) {
    const float al = static_cast<float>(alpha), be = static_cast<float>(beta);
    UNRAVEL_CUBLAS(cublasGemmStridedBatchedEx(
        h, g.oP.op, g.oQ.op, p, q, kk, &al, g.P, CUDA_R_16BF, ldp, g.sP, g.Q, CUDA_R_16BF, ldq,
        g.sQ, &be, g.D, CUDA_R_32F, ldd, g.sD, nb, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  } else if (c.dtype == DType::f32) {
    const float al = static_cast<float>(alpha), be = static_cast<float>(beta);
    UNRAVEL_CUBLAS(cublasSgemmStridedBatched(
        h, g.oP.op, g.oQ.op, p, q, kk, &al, static_cast<const float*>(g.P), ldp, g.sP,
        static_cast<const float*>(g.Q), ldq, g.sQ, &be, static_cast<float*>(g.D), ldd, g.sD, nb));
  } else {
    UNRAVEL_CUBLAS(cublasDgemmStridedBatched(
        h, g.oP.op, g.oQ.op, p, q, kk, &alpha, static_cast<const double*>(g.P), ldp, g.sP,
        static_cast<const double*>(g.Q), ldq, g.sQ, &beta, static_cast<double*>(g.D), ldd, g.sD,
        nb));
  }
}

}  // namespace unravel
