// Vectorised float32 transcendental kernels for the CPU elementwise loops: exp, log1p, softplus,
// sigmoid and softplus's gradient on contiguous arrays, 8 lanes of AVX2 + FMA (in the avx2 and
// avx512 variants of the CPU loops, ops/cpu/isa.h; in the base variant have_vec_math() is false
// and the callers keep the scalar std:: formulas of ops/functors.h).
// The math is in ops/cpu/vec_math_cpu.cpp; accuracy is ≤ 2 ulp of the correctly rounded result
// over the whole float range, with std::'s values at ±0, ±inf, NaN, the overflow/underflow edges
// and log1p's domain limits (tests/ops/test_vec_math.cpp). Each element's value depends only on
// that element (a partial tail runs in a padded vector), so results do not depend on how a loop
// is split across threads. Float64 never comes here.
#pragma once
#include <cstdint>

#include "ops/cpu/isa.h"

namespace unravel::cpu {
UNRAVEL_CPU_ISA_BEGIN

/// The vectorised functions.
enum class VecFn : uint8_t {
  exp,       // e^x
  log1p,     // log(1 + x)
  softplus,  // log(1 + e^x) = max(x, 0) + log1p(e^-|x|)
  sigmoid,   // 1 / (1 + e^-x)
};

/// True when this variant has the vector kernels (avx2 and avx512; not base).
bool have_vec_math();

/// y[i] = f(x[i]) for 0 <= i < n; x and y contiguous, may alias. Requires have_vec_math().
void vec_unary_f32(VecFn f, const float* x, float* y, int64_t n);

/// y[i] = a[i] · sigmoid(b[i]) (softplus's backward); may alias. Requires have_vec_math().
void vec_softplus_grad_f32(const float* a, const float* b, float* y, int64_t n);

UNRAVEL_CPU_ISA_END
}  // namespace unravel::cpu
