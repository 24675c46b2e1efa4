// The checks of one CUDA convolution's tensors and its geometry, shared by the cuDNN path and
// our direct kernels (ops/cuda/conv.cu, conv_direct.cu). Host code with no CUDA header, so the
// emulated tests (tests/engine/test_cuda_emulated_conv_bn.cpp) check it in CI.
//
// Precision::bf16 passes through: conv.cu rounds the pass's two inputs to bf16 and then runs
// either path (the checks here concern shapes, dtypes, devices and parameters only).
#pragma once
#include <cstdint>

#include "engine/backend.h"
#include "engine/check.h"
#include "engine/tensor_view.h"
#include "ops/cuda/conv_direct_body.h"  // Geom

namespace unravel::cuda_conv {

// --- convolution geometry and checks ---------------------------------------------------------

enum class Pass : int { fwd = 0, bwd_data = 1, bwd_filter = 2 };

inline const char* pass_name(Pass p) {
  switch (p) {
    case Pass::fwd: return "conv2d_forward";
    case Pass::bwd_data: return "conv2d_backward_data";
    default: return "conv2d_backward_weights";
  }
}

/// Checks x, w, y (in the forward sense; for a backward pass x or y is the gradient) against
/// each other and p, the CPU's rules plus groups. Returns the geometry; *symmetric tells whether
/// y's extent is the one floor((in + 2·pad − span) / stride) + 1 gives (cuDNN derives it so).
inline Geom check_conv(const TensorView& x, const TensorView& w, const TensorView& y,
                const Conv2dParams& p, const char* fn, const char* xn, const char* yn,
                bool* symmetric) {
  UNRAVEL_CHECK(x.rank() == 4 && w.rank() == 4 && y.rank() == 4,
                "{}: want 4-D {}, weight and {}, got {} {} {}", fn, xn, yn, x.shape.str(),
                w.shape.str(), y.shape.str());
  UNRAVEL_CHECK(x.dtype == DType::f32 || x.dtype == DType::f64,
                "{}: dtype {} is not supported (f32, f64)", fn, dtype_name(x.dtype));
  UNRAVEL_CHECK(w.dtype == x.dtype && y.dtype == x.dtype,
                "{}: dtypes differ ({} {}, weight {}, {} {})", fn, xn, dtype_name(x.dtype),
                dtype_name(w.dtype), yn, dtype_name(y.dtype));
  UNRAVEL_CHECK(x.strided() && w.strided() && y.strided(),
                "{}: the CUDA backend takes strided tensors only (no layouts)", fn);
  UNRAVEL_CHECK(w.device == x.device && y.device == x.device,
                "{}: tensors on different devices ({} {}, {})", fn, x.device.str(), w.device.str(),
                y.device.str());
  UNRAVEL_CHECK(p.stride_h >= 1 && p.stride_w >= 1 && p.dilation_h >= 1 && p.dilation_w >= 1 &&
                    p.pad_h >= 0 && p.pad_w >= 0 && p.groups >= 1,
                "{}: stride ({}, {}) and dilation ({}, {}) must be >= 1, padding ({}, {}) >= 0 and "
                "groups ({}) >= 1",
                fn, p.stride_h, p.stride_w, p.dilation_h, p.dilation_w, p.pad_h, p.pad_w, p.groups);
  Geom g{};
  g.n = x.shape[0], g.c = x.shape[1], g.h = x.shape[2], g.w = x.shape[3];
  g.o = w.shape[0], g.cg = w.shape[1], g.kh = w.shape[2], g.kw = w.shape[3];
  g.oh = y.shape[2], g.ow = y.shape[3];
  g.sh = p.stride_h, g.sw = p.stride_w, g.ph = p.pad_h, g.pw = p.pad_w;
  g.dh = p.dilation_h, g.dw = p.dilation_w, g.groups = p.groups;
  UNRAVEL_CHECK(g.o % g.groups == 0 && g.c == g.cg * g.groups,
                "{}: {} {} has {} channels but weight {} with {} groups expects {} (and {} output "
                "channels divisible by the groups)",
                fn, xn, x.shape.str(), g.c, w.shape.str(), g.groups, g.cg * g.groups, g.o);
  g.og = g.o / g.groups;
  UNRAVEL_CHECK(y.shape[0] == g.n && y.shape[1] == g.o,
                "{}: {} {} does not match {} {} and weight {}", fn, yn, y.shape.str(), xn,
                x.shape.str(), w.shape.str());
  *symmetric = true;
  const int64_t in[2] = {g.h, g.w}, k[2] = {g.kh, g.kw}, s[2] = {g.sh, g.sw}, pad[2] = {g.ph, g.pw},
                d[2] = {g.dh, g.dw}, out[2] = {g.oh, g.ow};
  for (int i = 0; i < 2; ++i) {
    if (k[i] == 0) continue;  // an empty weight: y is 0 (+ bias) whatever its extent
    const int64_t span = d[i] * (k[i] - 1) + 1;
    UNRAVEL_CHECK(in[i] + 2 * pad[i] >= span,
                  "{}: kernel of extent {} (dilated) does not fit the padded {} {} (weight {})", fn,
                  span, xn, x.shape.str(), w.shape.str());
    const int64_t full = (in[i] + 2 * pad[i] - span) / s[i] + 1;
    UNRAVEL_CHECK(out[i] <= full,
                  "{}: {} {} is larger than the {} x {} output that {} {} and weight {} give", fn,
                  yn, y.shape.str(), i == 0 ? full : g.oh, i == 0 ? g.ow : full, xn, x.shape.str(),
                  w.shape.str());
    if (out[i] != full) *symmetric = false;
  }
  return g;
}

}  // namespace unravel::cuda_conv
