// Fused pairwise kernel sums (ops/kernel_sums.cpp): the inverse-multiquadric (IMQ) kernel
// k(ρ) = Σ_s c_s/(c_s + ρ) summed over every pair of rows of a (Ba, D) and b (Bb, D), in one
// pass with no (Ba, Bb, D) temporaries. Used by the MMD divergences (objectives/divergences.cpp).
#pragma once
#include <span>

#include "engine/tensor.h"

namespace unravel {

/// Σ_{i,j} Σ_d Σ_s c_s/(c_s + (a_id − b_jd)²) (additive per-dimension IMQ kernel), a 0-d tensor
/// of a's dtype (f32 or f64). a and b may be the same tensor. Differentiable in a and b.
Tensor pairwise_imq_sum(const Tensor& a, const Tensor& b, std::span<const double> c_values);

/// Σ_{i,j} Σ_s c_s/(c_s + ||a_i − b_j||²) (IMQ kernel on whole rows), a 0-d tensor of a's dtype.
/// a and b may be the same tensor. Differentiable in a and b.
Tensor pairwise_imq_sum_full(const Tensor& a, const Tensor& b, std::span<const double> c_values);

}  // namespace unravel
