// The CPU backend's bf16 copies and fills (ops/cpu/bf16_cpu.cpp).
#pragma once
#include "engine/tensor_view.h"

namespace unravel::cpu {

/// dst = src with conversion where either is bf16; same shape, any strides.
void copy_bf16(const TensorView& src, const TensorView& dst);
/// y[...] = value rounded to bf16.
void fill_bf16(const TensorView& y, double value);
/// CpuBackend::gemm with Precision::bf16 (ops/cpu/gemm_bf16_cpu.cpp); shapes already checked.
void gemm_bf16(bool trans_a, bool trans_b, double alpha, const TensorView& a, const TensorView& b,
               double beta, const TensorView& c);

}  // namespace unravel::cpu
