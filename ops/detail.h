// Internal helpers shared by the op files: run a kernel without recording (used inside
// forwards and backward formulas), and argument checks with uniform messages.
#pragma once
#include "engine/backend.h"
#include "engine/check.h"
#include "engine/tape.h"
#include "engine/tensor.h"

namespace unravel::detail {

/// y = op(x) through the backend, no tape.
Tensor unary_kernel(UnaryOp op, const Tensor& x, double alpha = 0.0);
/// Differentiable tensor-scalar op (UnaryOp::scale, add_scalar, ...): records on the tape.
Tensor scalar_op(UnaryOp op, const Tensor& x, double alpha);
/// y = op(a, b) with broadcasting through the backend, no tape.
Tensor binary_kernel(BinaryOp op, const Tensor& a, const Tensor& b, double alpha = 0.0);
/// Throws "<op>: <what> is undefined" when t is undefined.
void check_defined(const Tensor& t, const char* op, const char* what);
/// Throws when a and b differ in dtype or device, naming op and both tensors.
void check_same(const Tensor& a, const Tensor& b, const char* op);
/// Throws unless t is a floating-point tensor.
void check_floating(const Tensor& t, const char* op);

}  // namespace unravel::detail
