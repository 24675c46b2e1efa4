// GEMM through the engine against the bare BLAS call. For each layer shape of the VAEs
// (Burgess β-VAE fully connected layers at batch 64 and 256, the pinwheel MLP at batch 128,
// and a 1024^3 square product) it first validates unravel::linear / matmul in f32 against a
// naive f64 loop, then times four f32 variants and the cblas_sgemm call that does the same work:
//   linear       y = x @ w^T            (M,K) x (N,K)      sgemm(NoTrans, Trans, beta 0)
//   linear_bias  y = x @ w^T + b        bias rows copied, then sgemm(NoTrans, Trans, beta 1)
//   matmul       y = x @ v              (M,K) x (K,N)      sgemm(NoTrans, NoTrans)
//   matmul_AT    dw = dy^T @ x          (M,N)^T x (M,K)    sgemm(Trans, NoTrans) (linear's dw)
// GFLOP/s = 2 M N K / time; ratio = engine GFLOP/s / bare GFLOP/s (target >= 0.9). CSV goes to
// stdout and to argv[1] when given; argv[2] optionally keeps only layers whose name contains it.
// OpenBLAS threads are left at the library's default (OPENBLAS_NUM_THREADS is not set) and
// reported.
#include <cblas.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "bench/bench.h"
#include "ops/ops.h"

using namespace unravel;

namespace {

struct LayerShape {
  const char* layer;
  int64_t m, k, n;  // rows (batch), in-features, out-features
};

void validate(const Tensor& got, const std::vector<double>& ref, const std::string& what) {
  bench::require_close(got.to_vector<double>(), ref, what);
}

}  // namespace

int main(int argc, char** argv) {
  // Positional arguments only: an option-like first argument (--help) is never taken as the CSV
  // path (it once wrote a file named "--help" into the source tree).
  for (int i = 1; i < argc; ++i)
    if (argv[i][0] == '-') {
      const bool help = std::string(argv[i]) == "--help" || std::string(argv[i]) == "-h";
      std::fprintf(help ? stdout : stderr,
                   "%susage: bench_gemm [CSV_PATH [LAYER_FILTER]]\n",
                   help ? "" : "bench_gemm: unknown option; ");
      return help ? 0 : 2;
    }
  const std::vector<LayerShape> shapes = {
      {"betavae_b64_enc_fc1", 64, 1024, 256},  {"betavae_b64_enc_fc2", 64, 256, 256},
      {"betavae_b64_enc_out", 64, 256, 20},    {"betavae_b64_dec_fc1", 64, 10, 256},
      {"betavae_b64_dec_fc2", 64, 256, 256},   {"betavae_b64_dec_out", 64, 256, 1024},
      {"betavae_b256_enc_fc1", 256, 1024, 256}, {"betavae_b256_enc_fc2", 256, 256, 256},
      {"betavae_b256_enc_out", 256, 256, 20},  {"betavae_b256_dec_fc1", 256, 10, 256},
      {"betavae_b256_dec_fc2", 256, 256, 256}, {"betavae_b256_dec_out", 256, 256, 1024},
      {"pinwheel_b128_enc_fc1", 128, 2, 100},  {"pinwheel_b128_enc_out", 128, 100, 4},
      {"pinwheel_b128_dec_fc1", 128, 2, 100},  {"pinwheel_b128_dec_fc2", 128, 100, 100},
      {"pinwheel_b128_dec_out", 128, 100, 4},  {"square_1024", 1024, 1024, 1024},
  };
  const int threads = openblas_get_num_threads();
  std::fprintf(stderr, "# OpenBLAS %s, %d thread(s) (OPENBLAS_NUM_THREADS=%s)\n",
               openblas_get_config(), threads,
               std::getenv("OPENBLAS_NUM_THREADS") ? std::getenv("OPENBLAS_NUM_THREADS") : "unset");
  bench::Csv csv(
      "layer,variant,M,K,N,blas_threads,unravel_us,bare_us,unravel_gflops,bare_gflops,ratio",
      argc > 1 && argv[1][0] != '\0' ? argv[1] : "");
  Generator gen(2024);

  const std::string only = argc > 2 ? argv[2] : "";  // optional layer-name filter
  for (const LayerShape& s : shapes) {
    if (!only.empty() && std::string(s.layer).find(only) == std::string::npos) continue;
    const int64_t M = s.m, K = s.k, N = s.n;
    // f64 sources (for the naive reference) and their f32 copies (what is timed).
    Tensor x64 = uniform(Shape{M, K}, gen, -1.0, 1.0, DType::f64);
    Tensor w64 = uniform(Shape{N, K}, gen, -1.0, 1.0, DType::f64);
    Tensor v64 = uniform(Shape{K, N}, gen, -1.0, 1.0, DType::f64);
    Tensor dy64 = uniform(Shape{M, N}, gen, -1.0, 1.0, DType::f64);
    Tensor b64 = uniform(Shape{N}, gen, -1.0, 1.0, DType::f64);
    Tensor x = to(x64, DType::f32), w = to(w64, DType::f32), v = to(v64, DType::f32);
    Tensor dy = to(dy64, DType::f32), b = to(b64, DType::f32);
    // The reference uses the f32-rounded inputs, so only the product's rounding is measured.
    auto xv = x.to_vector<double>(), wv = w.to_vector<double>(), vv = v.to_vector<double>();
    auto dyv = dy.to_vector<double>(), bv = b.to_vector<double>();

    // --- validate ---------------------------------------------------------------------------
    std::vector<double> ref_lin = bench::naive_gemm(xv, wv, M, K, N, false, true);
    validate(linear(x, w), ref_lin, std::string(s.layer) + " linear");
    std::vector<double> ref_bias = ref_lin;
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) ref_bias[i * N + j] += bv[j];
    validate(linear(x, w, b), ref_bias, std::string(s.layer) + " linear_bias");
    validate(matmul(x, v), bench::naive_gemm(xv, vv, M, K, N, false, false), std::string(s.layer) + " matmul");
    Tensor dyt = transpose(dy, 0, 1);  // (N, M) view, no copy
    validate(matmul(dyt, x), bench::naive_gemm(dyv, xv, N, M, K, true, false),
             std::string(s.layer) + " matmul_AT");

    // --- time -------------------------------------------------------------------------------
    // Output buffer for the bare calls, from the engine's allocator (same alignment as y).
    Tensor cbuf = Tensor::empty(Shape{std::max(M * N, N * K)}, DType::f32);
    float* cp = cbuf.data<float>();
    const float *px = x.data<float>(), *pw = w.data<float>(), *pv = v.data<float>();
    const float *pdy = dy.data<float>(), *pb = b.data<float>();
    struct Variant {
      const char* name;
      std::function<void()> engine, bare;
    };
    const std::vector<Variant> variants = {
        {"linear", [&] { linear(x, w); },
         [&] {
           cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.f, px, K, pw, K, 0.f,
                       cp, N);
         }},
        {"linear_bias", [&] { linear(x, w, b); },
         [&] {
           for (int64_t i = 0; i < M; ++i) std::memcpy(cp + i * N, pb, N * sizeof(float));
           cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.f, px, K, pw, K, 1.f,
                       cp, N);
         }},
        {"matmul", [&] { matmul(x, v); },
         [&] {
           cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.f, px, K, pv, N, 0.f,
                       cp, N);
         }},
        {"matmul_AT", [&] { matmul(dyt, x); },
         [&] {
           cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, N, K, M, 1.f, pdy, N, px, K, 0.f,
                       cp, K);
         }},
    };
    const double flops = 2.0 * M * N * K;
    for (const Variant& var : variants) {
      // Interleave so both see the same machine state; each sample lasts ~30 ms.
      int inner_e = bench::calibrate(var.engine, 0.03), inner_b = bench::calibrate(var.bare, 0.03);
      bench::Timing te = bench::time_it(var.engine, 5, inner_e);
      bench::Timing tb = bench::time_it(var.bare, 5, inner_b);
      csv.row(fmt::format("{},{},{},{},{},{},{:.3f},{:.3f},{:.2f},{:.2f},{:.3f}", s.layer, var.name,
                          M, K, N, threads, te.median * 1e6, tb.median * 1e6,
                          flops / te.median * 1e-9, flops / tb.median * 1e-9,
                          tb.median / te.median));
    }
  }
  return 0;
}
