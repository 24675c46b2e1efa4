// AVX2 + FMA float32 kernels of ops/cpu/vec_math.h, compiled in the avx2 and avx512 variants of
// the CPU loops (ops/cpu/isa.h; the avx512 variant runs the same 8-lane code, so the two give
// identical bits); the base variant has none and its callers keep the scalar std:: formulas.
//
// exp(x): n = round(x·log₂e), r = x − n·ln2 with ln2 split into a 9-bit head and its tail (n·head
//   is exact), e^r = 1 + r + r²·P(r) with Cephes' degree-5 minimax P (|r| ≤ ½ln2, ≤ 1 ulp), then
//   times 2^n applied as 2^⌊n/2⌋ · 2^(n−⌊n/2⌋): both factors are normal floats, so results in the
//   subnormal range are rounded once, like std::exp. x is clamped to [−104, 89] first, which
//   gives exactly 0 and inf beyond the limits; NaN passes through.
// log1p(x): u = 1 + x rounded; log1p(x) = log(u) + (x − (u − 1)) / u, the second term correcting
//   the rounding of u to first order (it is exact where u − 1 is, and makes log1p(x) = x when
//   u = 1). log(u) = e·ln2 + log(1 + f) with u = 2^e·m, m ∈ [√½, √2), f = m − 1, and Cephes'
//   degree-8 polynomial: log(1 + f) = f − f²/2 + f³·Q(f), ln2 again split in two. u is never
//   subnormal for x > −1 (x's spacing there is ≥ 2⁻²⁴). x < −1 gives NaN, −1 gives −inf, +inf
//   gives +inf, and x where u = 1 gives x itself (so −0 stays −0).
// softplus(x) = max(x, 0) + log1p(e^−|x|): no overflow; for x > 17 the log term is below half
//   an ulp of x, for x < −17 log1p returns e^x exactly as computed.
// sigmoid(x) = 1/(1 + e) for x ≥ 0, e/(1 + e) for x < 0, with e = e^−|x| ≤ 1 (never overflows).
// A tail of fewer than 8 elements is copied into a padded vector, so the code an element runs
// through never depends on its position.
#include "ops/cpu/vec_math.h"

#include <cstring>

#include "ops/cpu/isa.h"

#if UNRAVEL_CPU_ISA_LEVEL >= 1
#include <immintrin.h>
#define UNRAVEL_VEC_MATH 1
#else
#define UNRAVEL_VEC_MATH 0
#endif

#include "engine/check.h"

namespace unravel::cpu {
UNRAVEL_CPU_ISA_BEGIN

#if UNRAVEL_VEC_MATH

namespace {

inline __m256 c(float v) { return _mm256_set1_ps(v); }

// 2^n for integer n in [−126, 127] (as exponent bits).
inline __m256 pow2i(__m256i n) {
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n, _mm256_set1_epi32(127)), 23));
}

inline __m256 exp8(__m256 x) {
  const __m256 nan_mask = _mm256_cmp_ps(x, x, _CMP_UNORD_Q);
  __m256 xc = _mm256_min_ps(_mm256_max_ps(x, c(-104.0f)), c(89.0f));
  const __m256 nf = _mm256_round_ps(_mm256_mul_ps(xc, c(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  // ln2 = 0.693359375 (exact in 9 bits) − 2.12194440e-4.
  __m256 r = _mm256_fnmadd_ps(nf, c(0.693359375f), xc);
  r = _mm256_fnmadd_ps(nf, c(-2.12194440e-4f), r);
  __m256 p = c(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, c(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, c(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, c(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, c(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, c(5.0000001201e-1f));
  const __m256 r2 = _mm256_mul_ps(r, r);
  __m256 y = _mm256_add_ps(_mm256_fmadd_ps(p, r2, r), c(1.0f));
  const __m256i n = _mm256_cvtps_epi32(nf);          // in [−150, 129]
  const __m256i n1 = _mm256_srai_epi32(n, 1);        // ⌊n/2⌋ in [−75, 64]
  const __m256i n2 = _mm256_sub_epi32(n, n1);        // in [−75, 65]
  y = _mm256_mul_ps(_mm256_mul_ps(y, pow2i(n1)), pow2i(n2));
  return _mm256_blendv_ps(y, x, nan_mask);
}

inline __m256 log1p8(__m256 x) {
  const __m256 one = c(1.0f);
  const __m256 u = _mm256_add_ps(x, one);
  // First-order correction of the rounding in u (0 where u - 1 == x exactly).
  const __m256 corr = _mm256_div_ps(_mm256_sub_ps(x, _mm256_sub_ps(u, one)), u);
  // u = 2^e · m with m in [1, 2), then m in [√½, √2).
  const __m256i bits = _mm256_castps_si256(u);
  __m256i e = _mm256_sub_epi32(_mm256_srli_epi32(bits, 23), _mm256_set1_epi32(127));
  __m256 m = _mm256_castsi256_ps(
      _mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi32(0x007fffff)),
                      _mm256_set1_epi32(0x3f800000)));
  const __m256 big = _mm256_cmp_ps(m, c(1.41421356237f), _CMP_GT_OQ);
  m = _mm256_blendv_ps(m, _mm256_mul_ps(m, c(0.5f)), big);
  e = _mm256_sub_epi32(e, _mm256_castps_si256(big));  // big lanes are all ones = −1
  const __m256 ef = _mm256_cvtepi32_ps(e);
  const __m256 f = _mm256_sub_ps(m, one);
  __m256 q = c(7.0376836292e-2f);
  q = _mm256_fmadd_ps(q, f, c(-1.1514610310e-1f));
  q = _mm256_fmadd_ps(q, f, c(1.1676998740e-1f));
  q = _mm256_fmadd_ps(q, f, c(-1.2420140846e-1f));
  q = _mm256_fmadd_ps(q, f, c(1.4249322787e-1f));
  q = _mm256_fmadd_ps(q, f, c(-1.6668057665e-1f));
  q = _mm256_fmadd_ps(q, f, c(2.0000714765e-1f));
  q = _mm256_fmadd_ps(q, f, c(-2.4999993993e-1f));
  q = _mm256_fmadd_ps(q, f, c(3.3333331174e-1f));
  const __m256 f2 = _mm256_mul_ps(f, f);
  __m256 t = _mm256_mul_ps(_mm256_mul_ps(q, f2), f);       // f³·Q(f)
  t = _mm256_fmadd_ps(ef, c(-2.12194440e-4f), t);          // + e·ln2 tail
  t = _mm256_add_ps(t, corr);
  t = _mm256_fnmadd_ps(c(0.5f), f2, t);                    // − f²/2
  __m256 y = _mm256_add_ps(f, t);
  y = _mm256_fmadd_ps(ef, c(0.693359375f), y);             // + e·ln2 head
  // Special cases, in order of precedence (later blends win).
  const __m256 inf = c(__builtin_inff());
  y = _mm256_blendv_ps(y, x, _mm256_cmp_ps(u, one, _CMP_EQ_OQ));           // tiny x
  y = _mm256_blendv_ps(y, inf, _mm256_cmp_ps(x, inf, _CMP_EQ_OQ));         // +inf
  y = _mm256_blendv_ps(y, c(-__builtin_inff()), _mm256_cmp_ps(x, c(-1.0f), _CMP_EQ_OQ));
  y = _mm256_blendv_ps(y, c(__builtin_nanf("")), _mm256_cmp_ps(x, c(-1.0f), _CMP_LT_OQ));
  return _mm256_blendv_ps(y, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));       // NaN
}

inline __m256 abs8(__m256 x) { return _mm256_andnot_ps(c(-0.0f), x); }

inline __m256 softplus8(__m256 x) {
  const __m256 t = exp8(_mm256_sub_ps(_mm256_setzero_ps(), abs8(x)));
  const __m256 y = _mm256_add_ps(_mm256_max_ps(x, _mm256_setzero_ps()), log1p8(t));
  return _mm256_blendv_ps(y, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

inline __m256 sigmoid8(__m256 x) {
  const __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), abs8(x)));
  const __m256 d = _mm256_add_ps(c(1.0f), e);
  const __m256 pos = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GE_OQ);
  const __m256 y = _mm256_div_ps(_mm256_blendv_ps(e, c(1.0f), pos), d);
  return _mm256_blendv_ps(y, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

template <class F> void map1(const float* x, float* y, int64_t n, F f) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, f(_mm256_loadu_ps(x + i)));
  if (i < n) {
    alignas(32) float buf[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    const size_t rest = static_cast<size_t>(n - i);
    std::memcpy(buf, x + i, rest * sizeof(float));
    _mm256_store_ps(buf, f(_mm256_load_ps(buf)));
    std::memcpy(y + i, buf, rest * sizeof(float));
  }
}

}  // namespace

bool have_vec_math() { return true; }

void vec_unary_f32(VecFn fn, const float* x, float* y, int64_t n) {
  // [&], not []: a capture-less lambda also gets a conversion to a function pointer, whose
  // compiler-generated thunk does not inherit the ISA target pragma (GCC's -Wpsabi warning).
  switch (fn) {
    case VecFn::exp: return map1(x, y, n, [&](__m256 v) { return exp8(v); });
    case VecFn::log1p: return map1(x, y, n, [&](__m256 v) { return log1p8(v); });
    case VecFn::softplus: return map1(x, y, n, [&](__m256 v) { return softplus8(v); });
    case VecFn::sigmoid: return map1(x, y, n, [&](__m256 v) { return sigmoid8(v); });
  }
}

void vec_softplus_grad_f32(const float* a, const float* b, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(a + i), sigmoid8(_mm256_loadu_ps(b + i))));
  if (i < n) {
    alignas(32) float ba[8] = {0, 0, 0, 0, 0, 0, 0, 0}, bb[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    const size_t rest = static_cast<size_t>(n - i);
    std::memcpy(ba, a + i, rest * sizeof(float));
    std::memcpy(bb, b + i, rest * sizeof(float));
    _mm256_store_ps(ba, _mm256_mul_ps(_mm256_load_ps(ba), sigmoid8(_mm256_load_ps(bb))));
    std::memcpy(y + i, ba, rest * sizeof(float));
  }
}

#else  // no AVX2: the callers keep the scalar formulas

bool have_vec_math() { return false; }

void vec_unary_f32(VecFn, const float*, float*, int64_t) {
  UNRAVEL_CHECK(false, "vec_unary_f32: the base CPU loops have no AVX2 + FMA; use the scalar path");
}

void vec_softplus_grad_f32(const float*, const float*, float*, int64_t) {
  UNRAVEL_CHECK(false,
                "vec_softplus_grad_f32: the base CPU loops have no AVX2 + FMA; use the scalar path");
}

#endif

UNRAVEL_CPU_ISA_END
}  // namespace unravel::cpu
