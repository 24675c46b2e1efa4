// Mixed-precision GEMM on the CPU (Precision::bf16): C[b] = alpha · op(A[b]) @ op(B[b]) + beta · C[b]
// with A and B rounded to bfloat16 and the products accumulated and written in f32, on oneDNN's
// matmul primitive (AMX or AVX512-BF16 kernels). The f32 operands stay where they are: a reorder
// per call reads op(A) / op(B) through their strides (a transpose is just swapped strides) into
// bf16 buffers; alpha is an output scale and beta a sum post-op on C (read and written through
// its own strides). One plan per (shapes, strides, flags, alpha, beta), built once and cached;
// the work buffers are reused. Broadcast batches (stride 0) reuse one converted matrix.
// Also CpuBackend::supports, which says whether this CPU computes in bf16.
#include <oneapi/dnnl/dnnl.hpp>

#include <array>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/check.h"
#include "engine/cpu/cpu_backend.h"
#include "ops/cpu/layout_cpu.h"

namespace unravel {

namespace {

using dnnl::memory;
using DT = memory::data_type;

/// True when oneDNN reports an ISA with bf16 arithmetic (AVX512-BF16 or AMX-BF16) and the
/// environment does not hide it (UNRAVEL_BF16=0).
bool cpu_has_bf16() {
  static const bool v = [] {
    const char* e = std::getenv("UNRAVEL_BF16");
    if (e && std::string(e) == "0") return false;
    const auto isa = static_cast<unsigned>(dnnl_get_effective_cpu_isa());
    const auto need = static_cast<unsigned>(dnnl_cpu_isa_avx512_core_bf16);
    return (isa & need) == need;
  }();
  return v;
}

struct GemmPlan {
  memory a_user, b_user, c_user;  // f32 views of op(A), op(B), C (handles set per call)
  memory a_bf, b_bf;              // bf16 copies (their own buffers)
  dnnl::reorder a_reorder, b_reorder;
  dnnl::matmul prim;
};

using Key = std::array<int64_t, 14>;

/// f32 descriptor of a rows × cols matrix with strides (s0, s1).
memory::desc strided_md(int64_t rows, int64_t cols, int64_t s0, int64_t s1) {
  return memory::desc({rows, cols}, DT::f32, memory::dims{s0, s1});
}

std::unique_ptr<GemmPlan> build(int64_t m, int64_t n, int64_t k, int64_t as0, int64_t as1,
                                int64_t bs0, int64_t bs1, int64_t cs0, int64_t cs1, float alpha,
                                float beta) {
  auto& eng = cpu::dnnl_engine();
  auto plan = std::make_unique<GemmPlan>();
  memory::desc a_md = strided_md(m, k, as0, as1), b_md = strided_md(k, n, bs0, bs1);
  memory::desc c_md = strided_md(m, n, cs0, cs1);
  memory::desc a_bf_md({m, k}, DT::bf16, memory::format_tag::ab);
  memory::desc b_any({k, n}, DT::bf16, memory::format_tag::any);
  dnnl::primitive_attr attr;
  if (alpha != 1.0f) attr.set_output_scales(0, {alpha});
  if (beta != 0.0f) {
    dnnl::post_ops ops;
    ops.append_sum(beta);
    attr.set_post_ops(ops);
  }
  dnnl::matmul::desc d(a_bf_md, b_any, c_md);
  dnnl::matmul::primitive_desc pd(d, attr, eng);
  plan->prim = dnnl::matmul(pd);
  plan->a_user = memory(a_md, eng, DNNL_MEMORY_NONE);
  plan->b_user = memory(b_md, eng, DNNL_MEMORY_NONE);
  plan->c_user = memory(c_md, eng, DNNL_MEMORY_NONE);
  plan->a_bf = memory(pd.src_desc(), eng);
  plan->b_bf = memory(pd.weights_desc(), eng);
  plan->a_reorder = dnnl::reorder(plan->a_user, plan->a_bf);
  plan->b_reorder = dnnl::reorder(plan->b_user, plan->b_bf);
  return plan;
}

}  // namespace

bool CpuBackend::supports(Kernel k) const {
  if (k == Kernel::gemm_bf16 || k == Kernel::conv2d_bf16) return cpu_has_bf16();
  return k != Kernel::graph;  // the CPU runs work as it is issued: nothing to record
}

namespace cpu {

void gemm_bf16(bool trans_a, bool trans_b, double alpha, const TensorView& a, const TensorView& b,
               double beta, const TensorView& c) {
  UNRAVEL_CHECK(cpu_has_bf16(), "gemm: bf16 precision needs a CPU with AVX512-BF16 or AMX "
                "(oneDNN reports neither here; run with --precision fp32)");
  UNRAVEL_CHECK(a.dtype == DType::f32 && b.dtype == DType::f32 && c.dtype == DType::f32,
                "gemm: bf16 precision takes f32 operands (rounded to bf16 inside), got {} {} {}",
                dtype_name(a.dtype), dtype_name(b.dtype), dtype_name(c.dtype));
  const int64_t batch = c.shape[0], m = c.shape[1], n = c.shape[2];
  const int64_t k = trans_a ? a.shape[1] : a.shape[2];
  // op(X) as a matrix view: a transpose swaps the strides.
  const int64_t as0 = trans_a ? a.strides[2] : a.strides[1], as1 = trans_a ? a.strides[1] : a.strides[2];
  const int64_t bs0 = trans_b ? b.strides[2] : b.strides[1], bs1 = trans_b ? b.strides[1] : b.strides[2];
  const float fa = static_cast<float>(alpha), fb = static_cast<float>(beta);
  Key key{m, n, k, as0, as1, bs0, bs1, c.strides[1], c.strides[2], 0, 0, 0, 0, 0};
  std::memcpy(&key[9], &fa, sizeof fa);
  std::memcpy(&key[10], &fb, sizeof fb);
  static std::mutex mu;
  static std::map<Key, std::unique_ptr<GemmPlan>> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(key);
  if (it == cache.end())
    it = cache.emplace(key, build(m, n, k, as0, as1, bs0, bs1, c.strides[1], c.strides[2], fa, fb))
             .first;
  GemmPlan& p = *it->second;
  dnnl::stream s(cpu::dnnl_engine());
  const int64_t sa = a.shape[0] == 1 ? 0 : a.strides[0], sb = b.shape[0] == 1 ? 0 : b.strides[0];
  for (int64_t i = 0; i < batch; ++i) {
    if (i == 0 || sa != 0) {
      p.a_user.set_data_handle(const_cast<float*>(a.ptr<float>() + i * sa));
      p.a_reorder.execute(s, p.a_user, p.a_bf);
    }
    if (i == 0 || sb != 0) {
      p.b_user.set_data_handle(const_cast<float*>(b.ptr<float>() + i * sb));
      p.b_reorder.execute(s, p.b_user, p.b_bf);
    }
    p.c_user.set_data_handle(c.ptr<float>() + i * c.strides[0]);
    p.prim.execute(s, {{DNNL_ARG_SRC, p.a_bf}, {DNNL_ARG_WEIGHTS, p.b_bf}, {DNNL_ARG_DST, p.c_user}});
  }
  s.wait();
}

}  // namespace cpu

}  // namespace unravel
