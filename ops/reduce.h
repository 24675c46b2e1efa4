// Reductions over any set of axes (empty = all), with keepdim (ops/reduce.cpp).
#pragma once
#include <vector>

#include "engine/tensor.h"

namespace unravel {

using Axes = std::vector<int64_t>;

Tensor sum(const Tensor& x, const Axes& axes = {}, bool keepdim = false);
Tensor mean(const Tensor& x, const Axes& axes = {}, bool keepdim = false);
/// Max / min values; the gradient is split evenly between tied maxima.
Tensor max(const Tensor& x, const Axes& axes = {}, bool keepdim = false);
Tensor min(const Tensor& x, const Axes& axes = {}, bool keepdim = false);
/// Stable log(sum(exp(x))) (max-shifted); -inf rows give -inf.
Tensor logsumexp(const Tensor& x, const Axes& axes = {}, bool keepdim = false);
/// Variance with `correction` (1 = unbiased, 0 = population).
Tensor var(const Tensor& x, const Axes& axes = {}, int64_t correction = 1, bool keepdim = false);
/// Index of the max / min along `axis` (i64, no gradient).
Tensor argmax(const Tensor& x, int64_t axis, bool keepdim = false);
Tensor argmin(const Tensor& x, int64_t axis, bool keepdim = false);

}  // namespace unravel
