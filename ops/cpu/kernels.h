// The CPU loop kernels behind CpuBackend's elementwise, reduction, indexing, batch-norm,
// kernel-sum, random and optimiser families. Each ISA variant (ops/cpu/isa.h) defines all of
// them in its own namespace — unravel::cpu::isa_base, isa_avx2, isa_avx512 — and hands them out
// as one KernelTable (ops/cpu/kernel_table_cpu.cpp); ops/cpu/dispatch_cpu.cpp defines the
// CpuBackend methods as calls through the table of the variant chosen at start-up.
//
// One list, UNRAVEL_CPU_KERNELS(X), gives name, parameters and arguments of every kernel; the
// declarations, the table's fields, the table's contents and the CpuBackend forwarders are all
// generated from it, so they cannot drift apart. Every kernel returns void and has the
// signature of the CpuBackend method of the same name.
#pragma once
#include <vector>

#include "engine/backend.h"
#include "ops/cpu/isa.h"

#define UNRAVEL_CPU_KERNELS(X)                                                                \
  X(copy, (const TensorView& src, const TensorView& dst), (src, dst))                         \
  X(fill, (const TensorView& y, double value), (y, value))                                    \
  X(arange, (const TensorView& y, double start, double step), (y, start, step))               \
  X(unary, (UnaryOp op, const TensorView& x, const TensorView& y, double alpha),              \
    (op, x, y, alpha))                                                                        \
  X(binary,                                                                                   \
    (BinaryOp op, const TensorView& a, const TensorView& b, const TensorView& y,              \
     double alpha),                                                                           \
    (op, a, b, y, alpha))                                                                     \
  X(where,                                                                                    \
    (const TensorView& cond, const TensorView& a, const TensorView& b, const TensorView& y),  \
    (cond, a, b, y))                                                                          \
  X(reduce, (ReduceOp op, const TensorView& x, const TensorView& y), (op, x, y))              \
  X(arg_reduce, (bool is_max, const TensorView& x, int axis, const TensorView& y),            \
    (is_max, x, axis, y))                                                                     \
  X(gather,                                                                                   \
    (const TensorView& x, int axis, const TensorView& index, const TensorView& y),            \
    (x, axis, index, y))                                                                      \
  X(scatter_add,                                                                              \
    (const TensorView& src, int axis, const TensorView& index, const TensorView& y),          \
    (src, axis, index, y))                                                                    \
  X(index_select,                                                                             \
    (const TensorView& x, int axis, const TensorView& index, const TensorView& y),            \
    (x, axis, index, y))                                                                      \
  X(index_add,                                                                                \
    (const TensorView& src, int axis, const TensorView& index, const TensorView& y),          \
    (src, axis, index, y))                                                                    \
  X(batch_norm_forward,                                                                       \
    (const TensorView& x, const TensorView& gamma, const TensorView& beta,                    \
     const TensorView& mean, const TensorView& var, bool training, double eps,                \
     const TensorView& y, const TensorView& save_mean, const TensorView& save_invstd),        \
    (x, gamma, beta, mean, var, training, eps, y, save_mean, save_invstd))                    \
  X(batch_norm_backward,                                                                      \
    (const TensorView& dy, const TensorView& x, const TensorView& gamma,                      \
     const TensorView& save_mean, const TensorView& save_invstd, const TensorView& dx,        \
     const TensorView& dgamma, const TensorView& dbeta),                                      \
    (dy, x, gamma, save_mean, save_invstd, dx, dgamma, dbeta))                                \
  X(pairwise_imq,                                                                             \
    (ImqMode mode, const TensorView& a, const TensorView& b, const std::vector<double>& c,    \
     const TensorView& y, const TensorView& ga, const TensorView& gb),                        \
    (mode, a, b, c, y, ga, gb))                                                               \
  X(random, (RandomOp op, PhiloxState state, double a, double b, const TensorView& y),        \
    (op, state, a, b, y))                                                                     \
  X(random_permutation, (PhiloxState state, const TensorView& y), (state, y))                 \
  X(optimizer_step, (const OptimStep& h, const std::vector<OptimSlot>& slots), (h, slots))

namespace unravel::cpu {

/// One ISA variant's kernels (plain function pointers; no code in this header).
struct KernelTable {
  const char* isa;  // "base", "avx2", "avx512"
#define UNRAVEL_CPU_KERNEL_FIELD_(name, params, args) void(*name) params;
  UNRAVEL_CPU_KERNELS(UNRAVEL_CPU_KERNEL_FIELD_)
#undef UNRAVEL_CPU_KERNEL_FIELD_
};

#ifdef UNRAVEL_CPU_ISA
UNRAVEL_CPU_ISA_BEGIN
#define UNRAVEL_CPU_KERNEL_DECL_(name, params, args) void name params;
UNRAVEL_CPU_KERNELS(UNRAVEL_CPU_KERNEL_DECL_)
#undef UNRAVEL_CPU_KERNEL_DECL_
/// This variant's table (ops/cpu/kernel_table_cpu.cpp).
const KernelTable& kernel_table();
UNRAVEL_CPU_ISA_END
#endif

}  // namespace unravel::cpu
