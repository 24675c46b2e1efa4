// Matrix products on OpenBLAS (CPU) / cuBLAS (CUDA) (ops/matmul.cpp).
#pragma once
#include "engine/tensor.h"

namespace unravel {

/// NumPy matmul: 1-D and 2-D operands, and batched (..., m, k) @ (..., k, n) with broadcast batch
/// dimensions.
Tensor matmul(const Tensor& a, const Tensor& b);
/// x @ w^T + b for x (..., in), w (out, in), b (out) or undefined; one gemm with the bias fused.
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b = Tensor());

}  // namespace unravel
