// Chen et al.'s MIG estimator (see mig.h for the math): the blocked, vectorised Gaussian
// log-sum-exp kernel over the aggregate posterior, and the driver computing marginal and
// conditional entropies on the factor grid.
//
// Kernel layout: for one latent dim the points are held as three f32 arrays (μ, a = −1/(2σ²),
// b = −½(log 2π + log σ²)). A task owns one chunk of samples; it walks the points in blocks of
// `point_block` (3 × 4 KiB, resident in L1 while every sample of the chunk passes over it). For
// each (sample, block): t_m = a_m (x − μ_m)² + b_m into a buffer with its maximum (one SIMD
// loop), then Σ exp(t_m − max) with a branch-free Cephes-style exp (second SIMD loop), merged
// into the sample's running (max, sum) in f64. Each sample's blocks are visited in a fixed
// order, so results are independent of the thread count.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

#include "engine/check.h"
#include "engine/philox.h"
#include "objectives/metrics/mig.h"
#include "ops/ops.h"

namespace unravel {

namespace {

constexpr double kLog2Pi = 1.8378770664093453;
constexpr double kMinLogVar = -30.0;  // σ ≥ 3e-7: keeps a = −1/(2σ²) finite in f32

// exp(x) for x <= 0 (inputs below −87 are clamped: their terms are < 2e-38 of the block max).
// Cephes expf: x = n ln2 + r, |r| <= ln2/2, degree-5 polynomial, 2^n by exponent bits. Written
// without float comparisons or float->int conversions (both may trap, which stops GCC from
// vectorising under the default -ftrapping-math): the clamp is an integer min on |x|'s bits and
// n comes from the bits of t + 1.5·2^23 (the round-to-nearest trick).
inline float exp_nonpositive(float x) {
  const int32_t mag = std::min(std::bit_cast<int32_t>(x) & 0x7fffffff, std::bit_cast<int32_t>(87.0f));
  x = std::bit_cast<float>(mag | static_cast<int32_t>(0x80000000u));  // −min(|x|, 87)
  const float t = x * 1.44269504088896341f;
  const float big = t + 12582912.0f;  // 1.5·2^23: rounds t to an integer in the low bits
  const float fn = big - 12582912.0f;
  float r = std::fma(fn, -0.693359375f, x);
  r = std::fma(fn, 2.12194440e-4f, r);
  float p = 1.9875691500e-4f;
  p = std::fma(p, r, 1.3981999507e-3f);
  p = std::fma(p, r, 8.3334519073e-3f);
  p = std::fma(p, r, 4.1665795894e-2f);
  p = std::fma(p, r, 1.6666665459e-1f);
  p = std::fma(p, r, 5.0000001201e-1f);
  p = std::fma(p, r * r, r) + 1.0f;
  const int32_t n = std::bit_cast<int32_t>(big) - 0x4B400000;
  return p * std::bit_cast<float>((n + 127) << 23);
}

}  // namespace

void gaussian_logsumexp(const float* mu, const float* a, const float* b, int64_t M,
                        const float* x, int64_t S, double* out, int64_t point_block) {
  UNRAVEL_CHECK(M > 0 && S >= 0 && point_block > 0,
                "gaussian_logsumexp: M {} (> 0), S {}, point_block {} (> 0)", M, S, point_block);
  constexpr double kNegInf = -std::numeric_limits<double>::infinity();
  std::vector<double> run_max(static_cast<size_t>(S), kNegInf), run_sum(static_cast<size_t>(S), 0.0);
  std::vector<float> buf(static_cast<size_t>(point_block));
  float* __restrict t = buf.data();
  for (int64_t m0 = 0; m0 < M; m0 += point_block) {
    const int64_t mb = std::min(point_block, M - m0);
    const float* __restrict pm = mu + m0;
    const float* __restrict pa = a + m0;
    const float* __restrict pb = b + m0;
    for (int64_t s = 0; s < S; ++s) {
      const float xs = x[s];
      float mx = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : mx)
      for (int64_t i = 0; i < mb; ++i) {
        const float d = xs - pm[i];
        const float v = std::fma(pa[i] * d, d, pb[i]);
        t[i] = v;
        mx = v > mx ? v : mx;
      }
      if (!(mx > -std::numeric_limits<float>::infinity())) continue;  // block adds nothing
      float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
      for (int64_t i = 0; i < mb; ++i) acc += exp_nonpositive(t[i] - mx);
      const double bm = mx, bs = acc;
      if (bm > run_max[s]) {
        run_sum[s] = run_sum[s] * std::exp(run_max[s] - bm) + bs;
        run_max[s] = bm;
      } else {
        run_sum[s] += bs * std::exp(bm - run_max[s]);
      }
    }
  }
  for (int64_t s = 0; s < S; ++s) out[s] = run_max[s] + std::log(run_sum[s]);
}

namespace {

// The log-sum-exps of aggregate_entropies on an accelerator, lse [D][S] read back once.
std::vector<double> device_logsumexps(const std::vector<float>& mu, const std::vector<float>& a,
                                      const std::vector<float>& b, int64_t M,
                                      const std::vector<float>& x, int64_t S, int64_t D,
                                      Device device, int64_t chunk_elems) {
  NoGradGuard ng;
  const Tensor mu_d = Tensor::from_vector(mu, Shape{D, 1, M}, device);
  const Tensor a_d = Tensor::from_vector(a, Shape{D, 1, M}, device);
  const Tensor b_d = Tensor::from_vector(b, Shape{D, 1, M}, device);
  const Tensor x_d = Tensor::from_vector(x, Shape{D, S, 1}, device);
  Tensor lse = Tensor::empty(Shape{D, S}, DType::f32, device);
  const int64_t c = std::clamp<int64_t>(chunk_elems / (D * M), 1, S);
  for (int64_t s0 = 0; s0 < S; s0 += c) {
    const int64_t s1 = std::min(S, s0 + c);
    // t = a (x − μ)² + b: [D, c, M], then log Σ_m exp over the points.
    const Tensor t = a_d * square(slice(x_d, 1, s0, s1) - mu_d) + b_d;
    copy_(slice(lse, 1, s0, s1), logsumexp(t, Axes{2}));
  }
  const std::vector<float> host = to(lse, kCPU).to_vector<float>();
  return {host.begin(), host.end()};
}

}  // namespace

std::vector<double> aggregate_entropies(const std::vector<float>& mu,
                                        const std::vector<float>& logvar, int64_t M,
                                        const std::vector<float>& x, int64_t S, int64_t D,
                                        int64_t sample_chunk, int64_t point_block,
                                        Device device, int64_t device_chunk_elems) {
  UNRAVEL_CHECK(M > 0 && S > 0 && D > 0 && sample_chunk > 0,
                "aggregate_entropies: M {}, S {}, D {}, sample_chunk {} must be positive", M, S,
                D, sample_chunk);
  UNRAVEL_CHECK(static_cast<int64_t>(mu.size()) == D * M && mu.size() == logvar.size() &&
                    static_cast<int64_t>(x.size()) == D * S,
                "aggregate_entropies: sizes mu {}, logvar {}, x {} for D {}, M {}, S {}",
                mu.size(), logvar.size(), x.size(), D, M, S);
  std::vector<float> a(mu.size()), b(mu.size());
#pragma omp parallel for schedule(static) if (D * M > 65536)
  for (int64_t i = 0; i < D * M; ++i) {
    const double lv = std::max(static_cast<double>(logvar[i]), kMinLogVar);
    a[i] = static_cast<float>(-0.5 * std::exp(-lv));
    b[i] = static_cast<float>(-0.5 * (kLog2Pi + lv));
  }
  std::vector<double> lse;
  if (!device.is_cpu()) {
    lse = device_logsumexps(mu, a, b, M, x, S, D, device, device_chunk_elems);
  } else {
    lse.resize(static_cast<size_t>(D * S));
    const int64_t chunks = (S + sample_chunk - 1) / sample_chunk;
#pragma omp parallel for schedule(dynamic, 1) if (D * chunks > 1 && M * S > 100000)
    for (int64_t task = 0; task < D * chunks; ++task) {
      const int64_t j = task / chunks, c = task % chunks;
      const int64_t s0 = c * sample_chunk, sn = std::min(sample_chunk, S - s0);
      gaussian_logsumexp(mu.data() + j * M, a.data() + j * M, b.data() + j * M, M,
                         x.data() + j * S + s0, sn, lse.data() + j * S + s0, point_block);
    }
  }
  std::vector<double> h(static_cast<size_t>(D));
  const double log_m = std::log(static_cast<double>(M));
  for (int64_t j = 0; j < D; ++j) {
    double acc = 0;
    for (int64_t s = 0; s < S; ++s) acc += lse[j * S + s] - log_m;
    h[j] = -acc / static_cast<double>(S);
  }
  return h;
}

std::vector<int> dsprites_chen_factors() { return {1, 2, 3, 4}; }

namespace {

// Entropies over the points `rows` (all rows when empty) with samples drawn from those rows.
std::vector<double> subset_entropies(const HostMatrix& means, const HostMatrix& logvars,
                                     const std::vector<float>& z, std::span<const int64_t> rows,
                                     Generator& gen, const ChenMigOptions& opt) {
  const int64_t D = means.cols;
  const bool all = rows.empty();
  const int64_t M = all ? means.rows : static_cast<int64_t>(rows.size());
  std::vector<float> mu(D * M), lv(D * M);
#pragma omp parallel for schedule(static) if (M * D > 65536)
  for (int64_t m = 0; m < M; ++m) {
    const int64_t r = all ? m : rows[m];
    for (int64_t j = 0; j < D; ++j) {
      mu[j * M + m] = static_cast<float>(means(r, j));
      lv[j * M + m] = static_cast<float>(logvars(r, j));
    }
  }
  std::vector<int64_t> pick = sample_without_replacement(M, opt.n_samples, gen);
  const int64_t S = static_cast<int64_t>(pick.size());
  std::vector<float> x(D * S);
  for (int64_t s = 0; s < S; ++s) {
    const int64_t r = all ? pick[s] : rows[pick[s]];
    for (int64_t j = 0; j < D; ++j) x[j * S + s] = z[r * D + j];
  }
  return aggregate_entropies(mu, lv, M, x, S, D, opt.sample_chunk, opt.point_block, opt.device,
                             opt.device_chunk_elems);
}

}  // namespace

double top_gap(std::vector<double> v) {
  UNRAVEL_CHECK(!v.empty(), "top_gap: empty row");
  std::sort(v.begin(), v.end(), std::greater<>());
  return v.size() == 1 ? v[0] : v[0] - v[1];
}

ChenMigResult mig_chen(const HostMatrix& means, const HostMatrix& logvars, const FactorGrid& grid,
                       Generator& gen, const ChenMigOptions& opt, const HostMatrix* samples) {
  const int64_t N = means.rows, D = means.cols;
  UNRAVEL_CHECK(N > 1 && D > 0 && logvars.rows == N && logvars.cols == D && grid.size() == N,
                "mig_chen: means [{}, {}], logvars [{}, {}], {} factor rows", N, D, logvars.rows,
                logvars.cols, grid.size());
  UNRAVEL_CHECK(opt.n_samples > 0, "mig_chen: n_samples must be positive, got {}", opt.n_samples);
  std::vector<int> factors = opt.factors;
  if (factors.empty())
    for (int k = 0; k < grid.num_factors(); ++k)
      if (grid.sizes()[k] > 1) factors.push_back(k);
  for (int k : factors)
    UNRAVEL_CHECK(k >= 0 && k < grid.num_factors() && grid.factor_entropy(k) > 0,
                  "mig_chen: factor {} is not a varying factor of the grid ({} factors)", k,
                  grid.num_factors());
  // One sample per point: z = μ + σ ε (ε from the generator's Philox stream), or given.
  std::vector<float> z(static_cast<size_t>(N * D));
  if (samples) {
    UNRAVEL_CHECK(samples->rows == N && samples->cols == D,
                  "mig_chen: samples [{}, {}] for means [{}, {}]", samples->rows, samples->cols,
                  N, D);
    for (int64_t i = 0; i < N * D; ++i) z[i] = static_cast<float>(samples->data[i]);
  } else {
    const PhiloxState st = gen.reserve(static_cast<uint64_t>(N * D));
#pragma omp parallel for schedule(static) if (N * D > 65536)
    for (int64_t i = 0; i < N * D; ++i) {
      const double eps = philox::normal(st.seed, st.offset + static_cast<uint64_t>(i));
      z[i] = static_cast<float>(means.data[i] + std::exp(0.5 * logvars.data[i]) * eps);
    }
  }
  ChenMigResult r;
  r.factors = factors;
  r.marginal_entropies = subset_entropies(means, logvars, z, {}, gen, opt);
  const int64_t F = static_cast<int64_t>(factors.size());
  r.conditional_entropies.assign(F * D, 0.0);
  r.mutual_info.assign(F * D, 0.0);
  for (int64_t f = 0; f < F; ++f) {
    const int k = factors[f];
    for (int64_t v = 0; v < grid.sizes()[k]; ++v) {
      auto rows = grid.rows_with(k, v);
      if (rows.empty()) continue;
      const double w = static_cast<double>(rows.size()) / static_cast<double>(N);
      std::vector<double> h = subset_entropies(means, logvars, z, rows, gen, opt);
      for (int64_t j = 0; j < D; ++j) r.conditional_entropies[f * D + j] += w * h[j];
    }
    const double hk = grid.factor_entropy(k);
    std::vector<double> normed(D);
    for (int64_t j = 0; j < D; ++j) {
      const double mi =
          std::max(0.0, r.marginal_entropies[j] - r.conditional_entropies[f * D + j]);
      r.mutual_info[f * D + j] = mi;
      normed[j] = mi / hk;
    }
    r.factor_entropies.push_back(hk);
    r.gaps.push_back(top_gap(normed));
  }
  double acc = 0;
  for (double g : r.gaps) acc += g;
  r.mig = F > 0 ? acc / static_cast<double>(F) : 0.0;
  return r;
}

}  // namespace unravel
