// oneDNN's two f32 GEMM paths side by side: the `dnnl_sgemm` call that the CPU backend's gemm
// makes (ops/cpu/gemm_cpu.cpp) against oneDNN's matmul primitive (brgemm on AVX-512), which
// reads a transposed operand through swapped strides. For each shape of the models' fully
// connected layers (conv64's, the broadcast net's, fashion28's and the Higgins MLP's, at the
// batch sizes they train with) and each of the four transposition variants — NN (dx = dy · W),
// TN (dW = dyᵀ · x), NT (linear's forward, y = x · Wᵀ) and TT — it first validates both paths
// against a naive f64 product, then times them in alternation. Columns: microseconds per call
// (medians), sgemm / matmul (> 1: the primitive is faster). CSV to stdout and to argv[1] when
// given. This is the measurement behind the README's "Found, not yet used" paragraph: the
// primitive wins on NT from about 2^22 multiply-adds and loses on NN, TN and small products.
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <vector>

#include "bench/bench.h"

namespace {

struct Shape3 {
  const char* layer;
  int64_t m, k, n;
};

}  // namespace

int main(int argc, char** argv) {
  using namespace unravel;
  using dnnl::memory;
  const Shape3 shapes[] = {
      {"conv64_b64_enc_fc1", 64, 1024, 256},   {"conv64_b64_fc2", 64, 256, 256},
      {"conv64_b64_enc_out", 64, 256, 20},     {"conv64_b64_dec_fc1", 64, 10, 256},
      {"conv64_b64_dec_out", 64, 256, 1024},   {"conv64_b256_enc_fc1", 256, 1024, 256},
      {"broadcast_b64_fc1", 64, 512, 256},     {"fashion28_b128_fc1", 128, 3136, 256},
      {"higgins_b64_enc_fc1", 64, 4096, 1200}, {"higgins_b64_fc", 64, 1200, 1200},
      {"higgins_b64_dec_out", 64, 1200, 4096},
  };
  bench::Csv csv("layer,m,k,n,variant,macs,sgemm_us,matmul_us,sgemm_over_matmul,matmul_impl",
                 argc > 1 ? argv[1] : "");
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream strm(eng);
  for (const Shape3& s : shapes) {
    const int64_t m = s.m, k = s.k, n = s.n;
    std::vector<float> a(static_cast<size_t>(m * k)), b(static_cast<size_t>(k * n));
    for (size_t i = 0; i < a.size(); ++i) a[i] = 0.01f * static_cast<float>(i % 23) - 0.11f;
    for (size_t i = 0; i < b.size(); ++i) b[i] = 0.01f * static_cast<float>(i % 19) - 0.09f;
    std::vector<float> c1(static_cast<size_t>(m * n)), c2(c1.size());
    for (int v = 0; v < 4; ++v) {
      const bool ta = v == 1 || v == 3, tb = v >= 2;
      const char* name = v == 0 ? "NN" : v == 1 ? "TN" : v == 2 ? "NT" : "TT";
      const int64_t lda = ta ? m : k, ldb = tb ? k : n;
      // The primitive's view of op(A) (m x k) and op(B) (k x n): a transpose swaps the strides.
      memory::desc a_md({m, k}, memory::data_type::f32, ta ? memory::dims{1, m} : memory::dims{k, 1});
      memory::desc b_md({k, n}, memory::data_type::f32, tb ? memory::dims{1, k} : memory::dims{n, 1});
      memory::desc c_md({m, n}, memory::data_type::f32, memory::dims{n, 1});
      dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_md, b_md, c_md), eng);
      dnnl::matmul mm(pd);
      memory am(a_md, eng, a.data()), bm(b_md, eng, b.data()), cm(c_md, eng, c2.data());
      auto run_sgemm = [&] {
        const dnnl_status_t st = dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, 1.0f, a.data(),
                                            lda, b.data(), ldb, 0.0f, c1.data(), n);
        bench::require(st == dnnl_success, "dnnl_sgemm failed");
      };
      auto run_matmul = [&] {
        mm.execute(strm, {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}});
        strm.wait();
      };
      run_sgemm();
      run_matmul();
      const std::vector<double> ref = bench::naive_gemm(a, b, m, k, n, ta, tb);
      bench::require_close(c1, ref, fmt::format("{} {} sgemm", s.layer, name));
      bench::require_close(c2, ref, fmt::format("{} {} matmul primitive", s.layer, name));
      // Alternate the two paths over three rounds; each round's time is a median of 5 samples.
      std::vector<double> ts, tm;
      for (int round = 0; round < 3; ++round) {
        ts.push_back(bench::time_it(run_sgemm, 5, bench::calibrate(run_sgemm, 0.02)).median);
        tm.push_back(bench::time_it(run_matmul, 5, bench::calibrate(run_matmul, 0.02)).median);
      }
      std::sort(ts.begin(), ts.end());
      std::sort(tm.begin(), tm.end());
      csv.row(fmt::format("{},{},{},{},{},{},{:.1f},{:.1f},{:.2f},{}", s.layer, m, k, n, name,
                          m * n * k, ts[1] * 1e6, tm[1] * 1e6, ts[1] / tm[1], pd.impl_info_str()));
    }
  }
  return 0;
}
