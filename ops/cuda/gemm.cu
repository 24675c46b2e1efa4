// CUDA GEMM on cuBLAS: C[b] = alpha·op(A[b])·op(B[b]) + beta·C[b] over rank-3 views whose
// matrices have a unit stride in one of their two dimensions (any leading dimension), batch
// stride 0 for a broadcast operand. Row-major results are computed as the column-major product
// Cᵀ = op(B)ᵀ·op(A)ᵀ; each operand is handed to cuBLAS as a column-major matrix or its
// transpose, whichever its strides make it. One handle per device on that device's stream, with
// a fixed workspace (so graph capture never allocates and results are deterministic). TF32 is
// off unless UNRAVEL_ALLOW_TF32=1.
#include <cublas_v2.h>

#include <climits>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "engine/cuda/cuda_backend.h"
#include "ops/cuda/cuda_common.cuh"

namespace unravel {

namespace {

const char* cublas_status_name(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    default: return "CUBLAS_STATUS_?";
  }
}

#define UNRAVEL_CUBLAS(expr)                                                               \
  do {                                                                                     \
    cublasStatus_t unravel_st_ = (expr);                                                   \
    UNRAVEL_CHECK(unravel_st_ == CUBLAS_STATUS_SUCCESS, "cuBLAS error {} in {} at {}:{}", \
                  cublas_status_name(unravel_st_), #expr, __FILE__, __LINE__);             \
  } while (0)

constexpr size_t kWorkspaceBytes = size_t{32} << 20;

/// The device's cuBLAS handle, bound to its stream.
cublasHandle_t handle_for(int device) {
  static std::mutex mu;
  static cublasHandle_t handles[16] = {};
  cudaStream_t s = cuda::stream_for(device);
  std::lock_guard<std::mutex> lock(mu);
  if (!handles[device]) {
    UNRAVEL_CUBLAS(cublasCreate(&handles[device]));
    const char* tf32 = std::getenv("UNRAVEL_ALLOW_TF32");
    const bool allow = tf32 && std::strcmp(tf32, "1") == 0;
    UNRAVEL_CUBLAS(cublasSetMathMode(handles[device], allow ? CUBLAS_TF32_TENSOR_OP_MATH
                                                            : CUBLAS_DEFAULT_MATH));
    UNRAVEL_CUBLAS(cublasSetPointerMode(handles[device], CUBLAS_POINTER_MODE_HOST));
    void* ws = nullptr;
    UNRAVEL_CUDA(cudaMalloc(&ws, kWorkspaceBytes));  // lives as long as the process
    UNRAVEL_CUBLAS(cublasSetWorkspace(handles[device], ws, kWorkspaceBytes));
  }
  UNRAVEL_CUBLAS(cublasSetStream(handles[device], s));
  return handles[device];
}

/// A logical rows × cols matrix with element (i, j) at i·r + j·c, as cuBLAS sees it.
struct Operand {
  cublasOperation_t op = CUBLAS_OP_N;
  int64_t ld = 1;
};

/// Column-major (op N, ld = c) when r == 1, else the transpose of a column-major matrix (op T,
/// ld = r) when c == 1; size-1 dimensions take any stride. False when neither holds.
bool as_column_major(int64_t rows, int64_t cols, int64_t r, int64_t c, Operand& o) {
  if (rows <= 1) r = 1;
  if (cols <= 1) c = 1;
  if (r == 1 && c >= std::max<int64_t>(1, rows)) {
    o = {CUBLAS_OP_N, c};
    return true;
  }
  if (r == 1 && cols <= 1) {
    o = {CUBLAS_OP_N, std::max<int64_t>(1, rows)};
    return true;
  }
  if (c == 1 && r >= std::max<int64_t>(1, cols)) {
    o = {CUBLAS_OP_T, r};
    return true;
  }
  if (c == 1 && rows <= 1) {
    o = {CUBLAS_OP_T, std::max<int64_t>(1, cols)};
    return true;
  }
  return false;
}

}  // namespace

void CudaBackend::gemm(bool trans_a, bool trans_b, double alpha, const TensorView& a,
                       const TensorView& b, double beta, const TensorView& c, Precision precision) {
  UNRAVEL_CHECK(a.rank() == 3 && b.rank() == 3 && c.rank() == 3,
                "gemm: want rank-3 views, got A {} B {} C {}", a.shape.str(), b.shape.str(),
                c.shape.str());
  UNRAVEL_CHECK(a.dtype == b.dtype && a.dtype == c.dtype, "gemm: operand dtypes differ ({} {} {})",
                dtype_name(a.dtype), dtype_name(b.dtype), dtype_name(c.dtype));
  UNRAVEL_CHECK(a.dtype == DType::f32 || a.dtype == DType::f64,
                "gemm: supports f32 and f64 only, got {}", dtype_name(a.dtype));
  UNRAVEL_CHECK(precision == Precision::fp32 || a.dtype != DType::f32,
                "gemm: bf16 precision is not implemented on CUDA yet (use --precision fp32)");
  const int64_t m = trans_a ? a.shape[2] : a.shape[1], ka = trans_a ? a.shape[1] : a.shape[2];
  const int64_t kb = trans_b ? b.shape[2] : b.shape[1], n = trans_b ? b.shape[1] : b.shape[2];
  UNRAVEL_CHECK(ka == kb, "gemm: op(A) {}{} and op(B) {}{}: inner dimensions {} and {} differ",
                a.shape.str(), trans_a ? "^T" : "", b.shape.str(), trans_b ? "^T" : "", ka, kb);
  UNRAVEL_CHECK(c.shape[1] == m && c.shape[2] == n,
                "gemm: op(A) {}{} @ op(B) {}{} gives {} x {} matrices but C is {}", a.shape.str(),
                trans_a ? "^T" : "", b.shape.str(), trans_b ? "^T" : "", m, n, c.shape.str());
  const int64_t batch = c.shape[0], k = ka;
  UNRAVEL_CHECK((a.shape[0] == batch || a.shape[0] == 1) && (b.shape[0] == batch || b.shape[0] == 1),
                "gemm: batch sizes A {} B {} C {} do not broadcast", a.shape[0], b.shape[0], batch);
  if (batch == 0 || m == 0 || n == 0) return;
  if (k == 0) {  // an empty sum: C = beta·C
    if (beta == 0.0) fill(c, 0.0);
    else if (beta != 1.0) unary(UnaryOp::scale, c, c, beta);
    return;
  }
  // op(A): m × k with element (i, j) at i·ra + j·ca; op(B): k × n; C: m × n.
  const int64_t ra = trans_a ? a.strides[2] : a.strides[1], ca = trans_a ? a.strides[1] : a.strides[2];
  const int64_t rb = trans_b ? b.strides[2] : b.strides[1], cb = trans_b ? b.strides[1] : b.strides[2];
  const int64_t rc = c.strides[1], cc = c.strides[2];
  const int64_t sa = a.shape[0] == 1 ? 0 : a.strides[0], sb = b.shape[0] == 1 ? 0 : b.strides[0];
  const int64_t sc = c.strides[0];
  // Column-major D = P·Q: either D = Cᵀ (n × m) = op(B)ᵀ·op(A)ᵀ, or D = C = op(A)·op(B).
  struct Plan {
    int64_t p, q;
    const void* P;
    const void* Q;
    Operand oP, oQ;
    int64_t sP, sQ, ldD;
  } plan{};
  Operand d;
  bool ok = false;
  if (as_column_major(n, m, cc, rc, d) && d.op == CUBLAS_OP_N) {  // Cᵀ column-major
    plan.p = n;
    plan.q = m;
    plan.P = b.data;
    plan.Q = a.data;
    plan.sP = sb;
    plan.sQ = sa;
    plan.ldD = d.ld;
    ok = as_column_major(n, k, cb, rb, plan.oP) && as_column_major(k, m, ca, ra, plan.oQ);
  }
  if (!ok && as_column_major(m, n, rc, cc, d) && d.op == CUBLAS_OP_N) {  // C column-major
    plan.p = m;
    plan.q = n;
    plan.P = a.data;
    plan.Q = b.data;
    plan.sP = sa;
    plan.sQ = sb;
    plan.ldD = d.ld;
    ok = as_column_major(m, k, ra, ca, plan.oP) && as_column_major(k, n, rb, cb, plan.oQ);
  }
  UNRAVEL_CHECK(ok, "gemm: A {} with strides {}, B {} with strides {}, C {} with strides {}: each "
                "matrix needs a unit stride in one dimension", a.shape.str(), a.strides.str(),
                b.shape.str(), b.strides.str(), c.shape.str(), c.strides.str());
  for (int64_t v : {plan.p, plan.q, k, plan.oP.ld, plan.oQ.ld, plan.ldD, batch})
    UNRAVEL_CHECK(v <= INT_MAX, "gemm: a dimension or leading dimension ({}) exceeds cuBLAS's int range", v);
  cublasHandle_t h = handle_for(c.device.index);
  const int p = static_cast<int>(plan.p), q = static_cast<int>(plan.q), kk = static_cast<int>(k);
  if (a.dtype == DType::f32) {
    const float al = static_cast<float>(alpha), be = static_cast<float>(beta);
    UNRAVEL_CUBLAS(cublasSgemmStridedBatched(
        h, plan.oP.op, plan.oQ.op, p, q, kk, &al, static_cast<const float*>(plan.P),
        static_cast<int>(plan.oP.ld), plan.sP, static_cast<const float*>(plan.Q),
        static_cast<int>(plan.oQ.ld), plan.sQ, &be, static_cast<float*>(c.data),
        static_cast<int>(plan.ldD), sc, static_cast<int>(batch)));
  } else {
    UNRAVEL_CUBLAS(cublasDgemmStridedBatched(
        h, plan.oP.op, plan.oQ.op, p, q, kk, &alpha, static_cast<const double*>(plan.P),
        static_cast<int>(plan.oP.ld), plan.sP, static_cast<const double*>(plan.Q),
        static_cast<int>(plan.oQ.ld), plan.sQ, &beta, static_cast<double*>(c.data),
        static_cast<int>(plan.ldD), sc, static_cast<int>(batch)));
  }
}

}  // namespace unravel
