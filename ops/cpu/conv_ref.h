// Direct (loop) reference convolution for the CPU backend, any stride / padding / dilation and
// arbitrary input strides. Used for float64 (gradient checks, parity tests and benchmark
// validation); float32 goes through oneDNN in ops/cpu/conv_cpu.cpp.
#pragma once
#include "engine/backend.h"

namespace unravel::cpu {

/// y = conv2d(x, w) + b for f64 views (b.data may be null); y is overwritten.
void conv2d_forward_ref(const TensorView& x, const TensorView& w, const TensorView& b,
                        const TensorView& y, const Conv2dParams& p);
/// dx = adjoint of conv2d in x, given dy and w (f64); dx is overwritten.
void conv2d_backward_data_ref(const TensorView& dy, const TensorView& w, const TensorView& dx,
                              const Conv2dParams& p);
/// dw (and db when db.data != nullptr) = adjoint of conv2d in w (and b), f64; overwritten.
void conv2d_backward_weights_ref(const TensorView& x, const TensorView& dy, const TensorView& dw,
                                 const TensorView& db, const Conv2dParams& p);

}  // namespace unravel::cpu
