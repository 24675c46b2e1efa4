// 2-D convolution and transposed convolution, NCHW / OIHW (ops/conv.cpp). f32 runs on oneDNN
// (CPU) or cuDNN (CUDA); f64 runs a direct reference implementation used by gradient checks.
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
};

/// x (N, C, H, W), w (O, C, kh, kw), b (O) or undefined.
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b = Tensor(),
              const Conv2dOptions& opt = {});
/// x (N, C, H, W), w (C, O, kh, kw) as in PyTorch, b (O) or undefined. Output extent
/// (H - 1) * stride - 2 * pad + dilation * (k - 1) + output_padding + 1.
Tensor conv_transpose2d(const Tensor& x, const Tensor& w, const Tensor& b = Tensor(),
                        const Conv2dOptions& opt = {});

}  // namespace unravel
