// nn::Conv2d and nn::ConvTranspose2d (NCHW), on ops/conv.h. Weights are OIHW for Conv2d and
// (in, out, kh, kw) for ConvTranspose2d as in PyTorch; both use PyTorch's default init, whose
// fan_in is size(1) · kh · kw of the weight in either case.
#pragma once
#include <array>
#include <optional>

#include "engine/random.h"
#include "models/nn/module.h"
#include "ops/conv.h"

namespace unravel::nn {

/// Kernel extent (kh, kw).
using Kernel2d = std::array<int64_t, 2>;

/// What Conv2d and ConvTranspose2d share: the parameters, the input check that names the layer,
/// and the three ways to run it. Only the two subclasses construct it.
class ConvLayer2d : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  /// leaky_relu(forward(x), negative_slope) as one fused op (ops/conv.h conv2d_relu /
  /// conv_transpose2d_relu).
  Tensor forward_relu(const Tensor& x, double negative_slope);
  /// forward(x), then the activation when `relu_slope` is set (fused), with the output in
  /// layout `out` (nn::Sequential's conv chains; ops/layout.h conv_chain_layout).
  Tensor forward_to(const Tensor& x, std::optional<double> relu_slope, Layout out);
  std::string describe() const override;

  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }
  const Conv2dOptions& options() const { return opt_; }
  int64_t in_channels() const { return in_; }
  int64_t out_channels() const { return out_; }
  const Kernel2d& kernel() const { return kernel_; }
  bool transposed() const { return transposed_; }

 protected:
  /// The weight is (out, in, kh, kw) for a convolution, (in, out, kh, kw) when `transposed`.
  ConvLayer2d(bool transposed, int64_t in_channels, int64_t out_channels, Kernel2d kernel,
              Generator& gen, const Conv2dOptions& opt, bool bias);

 private:
  Tensor run(const Tensor& x, std::optional<double> relu_slope, const Conv2dOptions& opt) const;

  bool transposed_;
  int64_t in_, out_;
  Kernel2d kernel_;
  Conv2dOptions opt_;
  Tensor weight_, bias_;
};

class Conv2d final : public ConvLayer2d {
 public:
  /// in → out channels with a (kh, kw) kernel; stride/padding/dilation from `opt`.
  Conv2d(int64_t in_channels, int64_t out_channels, Kernel2d kernel, Generator& gen,
         const Conv2dOptions& opt = {}, bool bias = true)
      : ConvLayer2d(false, in_channels, out_channels, kernel, gen, opt, bias) {}
  /// Square kernel.
  Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel, Generator& gen,
         const Conv2dOptions& opt = {}, bool bias = true)
      : Conv2d(in_channels, out_channels, Kernel2d{kernel, kernel}, gen, opt, bias) {}
  std::string type_name() const override { return "Conv2d"; }
};

class ConvTranspose2d final : public ConvLayer2d {
 public:
  /// in → out channels with a (kh, kw) kernel; stride/padding/output_padding/dilation from `opt`.
  ConvTranspose2d(int64_t in_channels, int64_t out_channels, Kernel2d kernel, Generator& gen,
                  const Conv2dOptions& opt = {}, bool bias = true)
      : ConvLayer2d(true, in_channels, out_channels, kernel, gen, opt, bias) {}
  /// Square kernel.
  ConvTranspose2d(int64_t in_channels, int64_t out_channels, int64_t kernel, Generator& gen,
                  const Conv2dOptions& opt = {}, bool bias = true)
      : ConvTranspose2d(in_channels, out_channels, Kernel2d{kernel, kernel}, gen, opt, bias) {}
  std::string type_name() const override { return "ConvTranspose2d"; }
};

}  // namespace unravel::nn
