// CPU batched matrix product on OpenBLAS: C[b] = alpha * op(A[b]) @ op(B[b]) + beta * C[b].
//
// Every operand is a rank-3 view (batch, rows, cols). A matrix whose column stride is 1 is
// row-major with leading dimension = its row stride; one whose row stride is 1 is column-major,
// i.e. its transpose is row-major, so it is passed to cblas with the opposite trans flag and the
// column stride as leading dimension. No operand is ever copied. When C itself is column-major
// the product is computed as C^T = op(B)^T @ op(A)^T. A batch stride of 0 on A or B broadcasts
// that matrix over the batch; C must have a distinct matrix per batch entry.
#include <cblas.h>
#include <oneapi/dnnl/dnnl.h>

#include <cstdlib>
#include <string>

#include <algorithm>
#include <type_traits>

#include "engine/check.h"
#include "ops/kernel_checks.h"
#include "engine/cpu/cpu_backend.h"
#include "ops/cpu/bf16_cpu.h"
#include "ops/cpu/parallel.h"

namespace unravel {

namespace {

// A matrix in cblas row-major terms: the stored matrix (rows x cols of the view) is either
// row-major (trans = false, ld = row stride) or its transpose is (trans = true, ld = col stride).
struct BlasMat {
  bool transposed_storage = false;
  int64_t ld = 0;
};

// Layout of a rows x cols matrix with strides (s0, s1); false when neither stride is unit.
bool blas_layout(int64_t rows, int64_t cols, int64_t s0, int64_t s1, BlasMat* out) {
  // Size-1 dims may carry any stride; the BLAS needs ld >= max(1, inner extent).
  if ((s1 == 1 || cols == 1) && (rows == 1 || s0 >= std::max<int64_t>(1, cols))) {
    out->transposed_storage = false;
    out->ld = rows == 1 ? std::max<int64_t>(1, cols) : s0;
    return true;
  }
  if ((s0 == 1 || rows == 1) && (cols == 1 || s1 >= std::max<int64_t>(1, rows))) {
    out->transposed_storage = true;
    out->ld = cols == 1 ? std::max<int64_t>(1, rows) : s1;
    return true;
  }
  return false;
}

BlasMat layout_or_throw(const TensorView& v, const char* which) {
  BlasMat m;
  UNRAVEL_CHECK(blas_layout(v.shape[1], v.shape[2], v.strides[1], v.strides[2], &m),
                "gemm: {} {} with strides {} has no unit stride in its matrix dims; make it "
                "contiguous first",
                which, v.shape.str(), v.strides.str());
  return m;
}

// Batch stride of a view, 0 when its single matrix is broadcast over `batch` entries.
int64_t batch_stride(const TensorView& v, int64_t batch, const char* which) {
  UNRAVEL_CHECK(v.shape[0] == batch || v.shape[0] == 1,
                "gemm: {} batch {} does not match the output batch {}", which, v.shape[0], batch);
  return v.shape[0] == 1 ? 0 : v.strides[0];
}

// f32 products run on oneDNN's sgemm by default: it JIT-compiles for the machine's widest ISA
// (AVX2 or AVX-512, whatever OPENBLAS_CORETYPE says) and threads on the same OpenMP pool as the
// convolutions and our loops, so no second thread pool spins against them on a 2-core machine.
// Tiny products (at most kSmallSgemmMacs multiply-adds: the pinwheel MLP's 128×2×100 and
// 128×100×4) run on OpenBLAS's sgemm on one thread instead: oneDNN's call costs ~4–6 µs before
// any arithmetic there, OpenBLAS's 1.2–1.6 µs (bench_gemm, AMD EPYC AVX-512: 128×100×4 1.6 vs
// 6.0 µs, 128×2×100 with A transposed 1.2 vs 5.9 µs), while from ~10⁵ multiply-adds up oneDNN
// is as fast or faster (64×1024×256: 153 vs 247 µs). The rule reads only the shape, so a run
// stays reproducible. UNRAVEL_SGEMM=openblas or =onednn sends every product to one library
// (for comparisons); f64 (gradient checks, references) uses OpenBLAS dgemm on one thread.
constexpr double kSmallSgemmMacs = 65536;

enum class SgemmLib { automatic, openblas, onednn };

SgemmLib sgemm_lib() {
  static const SgemmLib v = [] {
    const char* e = std::getenv("UNRAVEL_SGEMM");
    const std::string mode = e ? e : "auto";
    UNRAVEL_CHECK(mode == "auto" || mode == "openblas" || mode == "onednn",
                  "UNRAVEL_SGEMM must be auto, openblas or onednn, got '{}'", mode);
    // OpenBLAS runs the tiny products on one thread (on its own it would start a second
    // thread pool); only the all-OpenBLAS comparison mode keeps its threads.
    if (mode != "openblas") openblas_set_num_threads(1);
    return mode == "openblas" ? SgemmLib::openblas
                              : mode == "onednn" ? SgemmLib::onednn : SgemmLib::automatic;
  }();
  return v;
}

template <class T>
void call_gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t m, int64_t n, int64_t k, T alpha,
               const T* a, int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  const SgemmLib lib = sgemm_lib();
  if constexpr (std::is_same_v<T, float>) {
    const bool small = static_cast<double>(m) * n * k <= kSmallSgemmMacs;
    if (lib == SgemmLib::openblas || (lib == SgemmLib::automatic && small)) {
      cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
      return;
    }
    dnnl_status_t st = dnnl_sgemm(ta == CblasTrans ? 'T' : 'N', tb == CblasTrans ? 'T' : 'N', m, n,
                                  k, alpha, a, lda, b, ldb, beta, c, ldc);
    UNRAVEL_CHECK(st == dnnl_success, "gemm: oneDNN sgemm failed (status {}) for {}x{}x{}",
                  static_cast<int>(st), m, n, k);
  } else {
    cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }
}

// C = beta * C for k == 0 products (the BLAS is not asked: ld checks would reject empty A/B).
template <class T>
void scale_c(const TensorView& c, int64_t batch, int64_t m, int64_t n, T beta) {
  T* base = c.ptr<T>();
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        T& v = base[b * c.strides[0] + i * c.strides[1] + j * c.strides[2]];
        v = beta == T(0) ? T(0) : v * beta;
      }
}

template <class T>
void gemm_impl(bool trans_a, bool trans_b, double alpha_d, const TensorView& a,
               const TensorView& b, double beta_d, const TensorView& c) {
  const int64_t batch = c.shape[0], m = c.shape[1], n = c.shape[2];
  const int64_t k = trans_a ? a.shape[1] : a.shape[2];
  const T alpha = static_cast<T>(alpha_d), beta = static_cast<T>(beta_d);
  if (batch == 0 || m == 0 || n == 0) return;
  if (k == 0) {
    scale_c<T>(c, batch, m, n, beta);
    return;
  }
  const int64_t sa = batch_stride(a, batch, "A"), sb = batch_stride(b, batch, "B");
  UNRAVEL_CHECK(batch == 1 || c.strides[0] != 0,
                "gemm: output C {} has batch stride 0; each batch entry needs its own matrix",
                c.shape.str());
  BlasMat la = layout_or_throw(a, "A"), lb = layout_or_throw(b, "B"), lc = layout_or_throw(c, "C");
  // Effective cblas flag: the requested op, flipped when the storage is the transpose.
  CBLAS_TRANSPOSE ta = (trans_a != la.transposed_storage) ? CblasTrans : CblasNoTrans;
  CBLAS_TRANSPOSE tb = (trans_b != lb.transposed_storage) ? CblasTrans : CblasNoTrans;
  const T* pa = a.ptr<T>();
  const T* pb = b.ptr<T>();
  T* pc = c.ptr<T>();
  // One thread unless each product is large (ops/cpu/parallel.h explains the threshold).
  cpu::ThreadCap cap(static_cast<double>(m) * n * k);
  for (int64_t i = 0; i < batch; ++i) {
    const T* ai = pa + i * sa;
    const T* bi = pb + i * sb;
    T* ci = pc + i * c.strides[0];
    if (!lc.transposed_storage) {
      call_gemm<T>(ta, tb, m, n, k, alpha, ai, la.ld, bi, lb.ld, beta, ci, lc.ld);
    } else {
      // C^T (n x m, row-major with ld) = op(B)^T @ op(A)^T.
      CBLAS_TRANSPOSE tbt = tb == CblasTrans ? CblasNoTrans : CblasTrans;
      CBLAS_TRANSPOSE tat = ta == CblasTrans ? CblasNoTrans : CblasTrans;
      call_gemm<T>(tbt, tat, n, m, k, alpha, bi, lb.ld, ai, la.ld, beta, ci, lc.ld);
    }
  }
}

}  // namespace

void CpuBackend::gemm(bool trans_a, bool trans_b, double alpha, const TensorView& a,
                      const TensorView& b, double beta, const TensorView& c, Precision precision) {
  const checks::GemmDims dims = checks::gemm(trans_a, trans_b, a, b, c);
  const int64_t m = dims.m, n = dims.n, ka = dims.k;
  const bool empty = c.shape[0] == 0 || m == 0 || n == 0 || ka == 0;
  // bf16 is a request for speed: products below kBf16MinMacs multiply-adds (the pinwheel MLP's,
  // a VAE head's) run in f32, where the bf16 reorders would cost more than they save (pinwheel
  // step: 5.8 k vs 8.6 k steps/s) — a fixed rule of the shape, so runs stay reproducible.
  constexpr double kBf16MinMacs = double(1 << 20);
  const bool big = static_cast<double>(m) * n * ka >= kBf16MinMacs;
  if (precision == Precision::bf16 && !empty && big)
    cpu::gemm_bf16(trans_a, trans_b, alpha, a, b, beta, c);
  else if (a.dtype == DType::f32)
    gemm_impl<float>(trans_a, trans_b, alpha, a, b, beta, c);
  else
    gemm_impl<double>(trans_a, trans_b, alpha, a, b, beta, c);
}

}  // namespace unravel
