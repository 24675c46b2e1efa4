// Random tensors from an explicit Generator (ops/random_ops.cpp). Element i of a draw uses Philox
// counter gen.offset + i, so results do not depend on the backend or the thread count.
#pragma once
#include "engine/random.h"
#include "engine/tensor.h"

namespace unravel {

Tensor uniform(const Shape& shape, Generator& gen, double lo = 0.0, double hi = 1.0,
               DType dtype = DType::f32, Device device = kCPU);
Tensor normal(const Shape& shape, Generator& gen, double mean = 0.0, double std = 1.0,
              DType dtype = DType::f32, Device device = kCPU);
/// Standard normal with x's shape, dtype and device.
Tensor randn_like(const Tensor& x, Generator& gen);
/// 1 with probability p (u8 -> as dtype).
Tensor bernoulli(const Shape& shape, double p, Generator& gen, DType dtype = DType::f32,
                 Device device = kCPU);
/// A uniformly random permutation of 0..n-1 (i64), made on `device`.
Tensor permutation(int64_t n, Generator& gen, Device device = kCPU);
/// `rows` independent permutations of 0..n-1 as rows of an i64 (rows, n) tensor, in one kernel;
/// equal to `rows` successive permutation(n) calls on the same generator.
Tensor permutations(int64_t rows, int64_t n, Generator& gen, Device device = kCPU);

}  // namespace unravel
