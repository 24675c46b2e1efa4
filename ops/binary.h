// Elementwise binary ops with NumPy broadcasting, comparisons and where (ops/binary.cpp).
// Operands must share a dtype (no silent promotion); scalar overloads take the tensor's dtype.
#pragma once
#include "engine/tensor.h"

namespace unravel {

Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
/// a^b (a > 0 where b is not an integer; the gradient wrt b uses log(a)).
Tensor pow(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, double b);
/// NaN-propagating elementwise max/min; at ties the gradient goes to a.
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);
/// C's fmod: a − trunc(a/b)·b (the sign of a); floating point only. Gradients 1 and −trunc(a/b).
Tensor fmod(const Tensor& a, const Tensor& b);
/// Comparisons return u8 tensors (no gradient).
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, double b);
Tensor lt(const Tensor& a, double b);
/// cond (u8) ? a : b, all three broadcast together.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
/// min(max(x, lo), hi).
Tensor clamp(const Tensor& x, double lo, double hi);

/// 0-d tensor with `like`'s dtype and device.
Tensor scalar_like(double v, const Tensor& like);

Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator+(const Tensor& a, double b);
Tensor operator-(const Tensor& a, double b);
Tensor operator*(const Tensor& a, double b);
Tensor operator/(const Tensor& a, double b);
Tensor operator+(double a, const Tensor& b);
Tensor operator-(double a, const Tensor& b);
Tensor operator*(double a, const Tensor& b);
Tensor operator/(double a, const Tensor& b);

// In-place (no autograd; bump the version counter; for optimisers and buffers) -----------------
/// dst += alpha * src (src broadcast to dst).
void add_(const Tensor& dst, const Tensor& src, double alpha = 1.0);
/// dst += value (one kernel).
void add_(const Tensor& dst, double value);
/// dst *= s (one kernel).
void mul_(const Tensor& dst, double s);
/// dst = src (broadcast, with dtype conversion).
void copy_(const Tensor& dst, const Tensor& src);
/// dst = value.
void fill_(const Tensor& dst, double value);

}  // namespace unravel
