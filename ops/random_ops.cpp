#include "ops/random_ops.h"

#include "ops/detail.h"
#include "ops/shape_ops.h"

namespace unravel {

namespace {
Tensor random_fill(RandomOp op, const Shape& shape, Generator& gen, double a, double b, DType dtype,
                   Device device) {
  Tensor y = Tensor::empty(shape, dtype, device);
  PhiloxState st = gen.reserve(static_cast<uint64_t>(y.numel()));
  backend(device).random(op, st, a, b, y.view());
  return y;
}
}  // namespace

Tensor uniform(const Shape& shape, Generator& gen, double lo, double hi, DType dtype, Device device) {
  UNRAVEL_CHECK(lo <= hi, "uniform: lo {} > hi {}", lo, hi);
  UNRAVEL_CHECK(is_floating(dtype), "uniform: dtype must be floating, got {}", dtype_name(dtype));
  return random_fill(RandomOp::uniform, shape, gen, lo, hi, dtype, device);
}

Tensor normal(const Shape& shape, Generator& gen, double mean, double std, DType dtype, Device device) {
  UNRAVEL_CHECK(std >= 0, "normal: negative std {}", std);
  UNRAVEL_CHECK(is_floating(dtype), "normal: dtype must be floating, got {}", dtype_name(dtype));
  return random_fill(RandomOp::normal, shape, gen, mean, std, dtype, device);
}

Tensor randn_like(const Tensor& x, Generator& gen) {
  detail::check_defined(x, "randn_like", "input");
  return normal(x.shape(), gen, 0.0, 1.0, x.dtype(), x.device());
}

Tensor bernoulli(const Shape& shape, double p, Generator& gen, DType dtype, Device device) {
  UNRAVEL_CHECK(p >= 0.0 && p <= 1.0, "bernoulli: p = {} is not a probability", p);
  return random_fill(RandomOp::bernoulli, shape, gen, p, 0.0, dtype, device);
}

Tensor permutations(int64_t rows, int64_t n, Generator& gen, Device device) {
  UNRAVEL_CHECK(rows >= 0 && n >= 0, "permutations: negative count ({} rows of {})", rows, n);
  // Row r sorts 0..n-1 by the 64-bit Philox keys of counters offset + r·n + i (ties by index):
  // the same result on every backend, and equal to `rows` successive permutation(n) draws.
  Tensor y = Tensor::empty(Shape{rows, n}, DType::i64, device);
  PhiloxState st = gen.reserve(static_cast<uint64_t>(rows * n));
  if (rows * n > 0) backend(device).random_permutation(st, y.view());
  return y;
}

Tensor permutation(int64_t n, Generator& gen, Device device) {
  UNRAVEL_CHECK(n >= 0, "permutation: negative n {}", n);
  return reshape(permutations(1, n, gen, device), Shape{n});
}

}  // namespace unravel
