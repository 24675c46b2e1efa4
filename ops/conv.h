// 2-D convolution and transposed convolution, NCHW / OIHW (ops/conv.cpp). f32 runs on oneDNN
// (CPU) or cuDNN (CUDA); f64 runs a direct reference implementation used by gradient checks.
// All four are layout-aware (engine/layout.h): the input may be in a format of its backend
// (ops/layout.h), and out_layout asks for the output in one; the values are those of the
// strided computation (on the CPU bit-identical: the same primitives run).
#pragma once
#include <array>

#include "engine/tensor.h"

namespace unravel {

struct Conv2dOptions {
  std::array<int64_t, 2> stride{1, 1};
  std::array<int64_t, 2> padding{0, 0};
  std::array<int64_t, 2> dilation{1, 1};
  /// conv_transpose2d only: extra rows/cols added on one side of the output.
  std::array<int64_t, 2> output_padding{0, 0};
  /// The output's layout, strided or a format of the input's backend (find_layout(device,
  /// "nChw8c"), conv_chain_layout). The input may be in any layout of its backend; its gradient
  /// comes back in that layout.
  Layout out_layout = kStrided;
};

/// x (N, C, H, W), w (O, C, kh, kw), b (O) or undefined.
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b = Tensor(),
              const Conv2dOptions& opt = {});
/// x (N, C, H, W), w (C, O, kh, kw) as in PyTorch, b (O) or undefined. Output extent
/// (H - 1) * stride - 2 * pad + dilation * (k - 1) + output_padding + 1.
Tensor conv_transpose2d(const Tensor& x, const Tensor& w, const Tensor& b = Tensor(),
                        const Conv2dOptions& opt = {});

/// leaky_relu(conv2d(x, w, b), negative_slope) as one op (negative_slope 0: ReLU; must be >= 0):
/// on the CPU the activation runs inside oneDNN's convolution (a post-op); the backward masks
/// the incoming gradient by the saved output (y > 0) and runs conv2d's backward.
Tensor conv2d_relu(const Tensor& x, const Tensor& w, const Tensor& b = Tensor(),
                   const Conv2dOptions& opt = {}, double negative_slope = 0.0);
/// leaky_relu(conv_transpose2d(x, w, b), negative_slope) as one op: bias and activation in one
/// pass over the output; backward as for conv2d_relu.
Tensor conv_transpose2d_relu(const Tensor& x, const Tensor& w, const Tensor& b = Tensor(),
                             const Conv2dOptions& opt = {}, double negative_slope = 0.0);

}  // namespace unravel
